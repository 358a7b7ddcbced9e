//! Rocket.Chat adapter figures against the fake Rocket.Chat on loopback:
//! - a message posted on the server -> `Inbound` out of the adapter (p50/p99), over DDP;
//! - backfill after a reconnect of 10,000 messages said while Flare was away.
//!
//! Run: `cargo bench --bench rocketchat`

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use flare::chat::ChatAdapter;
use flare::chat::rocketchat::{RocketChatAdapter, RocketChatConfig};
use flare::config::ChannelConfig;
use support::fake_rocketchat::{self, BOT_TOKEN, BOT_USER_ID, FakeRocketChat};
use support::full;
use support::stats::percentile;
use tokio::sync::mpsc;

/// Full sizes under `cargo bench`; a quick smoke run under `cargo test --all-targets`.
fn sizes() -> (usize, usize) {
    if full() { (2_000, 10_000) } else { (50, 200) }
}

fn config(url: &str) -> RocketChatConfig {
    RocketChatConfig {
        name: "rc-bench".into(),
        url: url.into(),
        user_id: Some(BOT_USER_ID.into()),
        token: Some(BOT_TOKEN.into()),
        channels: vec![ChannelConfig {
            id: "ops".into(),
            incident: true,
            announce: true,
        }],
        reconnect_initial: "20ms".into(),
        reconnect_max: "100ms".into(),
        ..Default::default()
    }
}

async fn bench() {
    let (latency_samples, backfill) = sizes();
    let fake = FakeRocketChat::start_with(fake_rocketchat::FakeOptions {
        ping_interval: Duration::from_secs(5),
        ..Default::default()
    })
    .await;
    let adapter = Arc::new(RocketChatAdapter::new(config(&fake.url())).expect("config"));
    let (tx, mut rx) = mpsc::channel(backfill * 2);
    let task = tokio::spawn(adapter.clone().run(tx));
    fake.wait_subscribed(1).await;

    // Warm up, then one message at a time: post -> Inbound.
    for i in 0..50 {
        fake.post_as("alice", "ops", &format!("warm {i}"), None);
        rx.recv().await.expect("inbound");
    }
    let mut samples = Vec::with_capacity(latency_samples);
    for i in 0..latency_samples {
        let started = Instant::now();
        let id = fake.post_as("alice", "ops", &format!("!inc update {i}"), None);
        let ev = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("in time")
            .expect("inbound");
        assert_eq!(ev.message_id, id);
        samples.push(started.elapsed());
    }
    samples.sort();
    println!(
        "rocketchat inbound (post on server -> DDP -> Inbound), {} samples: p50 {:?}  p99 {:?}  max {:?}",
        samples.len(),
        percentile(&samples, 0.50),
        percentile(&samples, 0.99),
        samples[samples.len() - 1]
    );

    // Backfill: the server goes away, 10,000 messages are said, it comes back.
    let logins = fake.ddp_logins();
    fake.restart(Duration::from_millis(1500)).await;
    let posting = Instant::now();
    for i in 0..backfill {
        fake.post_as("bob", "ops", &format!("while away {i}"), None);
    }
    assert!(
        fake.is_down(),
        "posting took {:?}: longer than the outage",
        posting.elapsed()
    );
    while fake.ddp_logins() <= logins {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let started = Instant::now();
    let mut got = 0;
    while got < backfill {
        tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("backfill in time")
            .expect("inbound");
        got += 1;
    }
    let took = started.elapsed();
    println!(
        "rocketchat backfill of {backfill} missed messages (DDP login -> last Inbound): {took:?} \
         ({} syncMessages calls, {} DDP logins in all)",
        fake.calls("chat.syncMessages"),
        fake.ddp_logins()
    );
    task.abort();
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(bench());
}
