//! Slack adapter latency against the fake Slack on loopback:
//! envelope written -> ack received (by the fake), and envelope written -> `Inbound` emitted.
//! The ack follows the event's receipt (the engine's commit); with no engine here the bench marks
//! each event done as soon as it arrives, so the figure is the adapter's own part.
//!
//! Run: `cargo bench --bench slack`

mod support;

use std::sync::Arc;
use std::time::Duration;

use flare::chat::ChatAdapter;
use flare::chat::slack::{SlackAdapter, SlackConfig};
use flare::config::ChannelConfig;
use support::fake_slack::{APP_TOKEN, BOT_TOKEN, FakeSlack};
use support::full;
use support::stats::percentile;
use tokio::sync::mpsc;
use tokio::time::timeout;

const CHANNEL: &str = "C0BENCH";
/// Full run under `cargo bench`; a quick smoke run under `cargo test --all-targets`.
fn rounds() -> usize {
    if full() { 2000 } else { 50 }
}

fn report(what: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "{what:<34} n={:<5} p50={:>8.3} ms  p99={:>8.3} ms  max={:>8.3} ms",
        v.len(),
        percentile(&v, 0.50).as_secs_f64() * 1e3,
        percentile(&v, 0.99).as_secs_f64() * 1e3,
        v.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let fake = FakeSlack::start(&[CHANNEL]).await;
        fake.add_user("U0ALICE", "alice");
        let cfg = SlackConfig {
            name: "slack-bench".into(),
            api_base: fake.api_base.clone(),
            bot_token: Some(BOT_TOKEN.into()),
            app_token: Some(APP_TOKEN.into()),
            channels: vec![ChannelConfig {
                id: CHANNEL.into(),
                incident: true,
                announce: true,
            }],
            ..Default::default()
        };
        let adapter = Arc::new(SlackAdapter::new(cfg)?);
        let (tx, mut rx) = mpsc::channel(1024);
        tokio::spawn(adapter.clone().run(tx));
        anyhow::ensure!(
            fake.wait_connections(1, Duration::from_secs(5)).await,
            "adapter did not connect"
        );
        let wait = Duration::from_secs(5);
        // Warm up: connection, users.info cache, allocator.
        for _ in 0..100 {
            fake.user_posts(CHANNEL, "U0ALICE", "warm up", None);
            // No engine here: mark each event done at once (its envelope is acked then).
            if let Some(ev) = timeout(wait, rx.recv()).await? {
                ev.done();
            }
        }
        let mut acks = Vec::with_capacity(rounds());
        let mut inbound = Vec::with_capacity(rounds());
        for i in 0..rounds() {
            let (_, env) = fake.user_posts(CHANNEL, "U0ALICE", &format!("status {i}"), None);
            let ev = timeout(wait, rx.recv()).await?;
            let got = std::time::Instant::now();
            let ev = ev.ok_or_else(|| anyhow::anyhow!("sink closed"))?;
            ev.done();
            let written = fake
                .written_at(&env)
                .ok_or_else(|| anyhow::anyhow!("envelope never written"))?;
            inbound.push(got - written);
            let ack = fake
                .wait_ack(&env, wait)
                .await
                .ok_or_else(|| anyhow::anyhow!("no ack"))?;
            acks.push(ack.latency);
        }
        println!(
            "Slack adapter vs fake Slack on loopback ({} events, socket mode)",
            rounds()
        );
        report("envelope written -> ack received", acks);
        report("envelope written -> Inbound emitted", inbound);
        let v = fake.violations();
        anyhow::ensure!(v.is_empty(), "violations: {v:?}");
        Ok(())
    })
}
