//! IRC adapter benchmark against a real inspircd on loopback, flood limits lifted on both
//! sides. Prints inbound latency (person's line written -> Inbound out of the adapter) and
//! outbound throughput (lines written by `send` and received by a person).
//!
//! Run: `cargo bench --bench irc` (needs inspircd installed).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use flare::chat::irc::{IrcAdapter, IrcChannelConfig, IrcConfig};
use flare::chat::{ChatAdapter, Outbound, Style};
use support::full;
use support::irc::client::TestClient;
use support::irc::server::{Kind, TestServer};
use support::stats::percentile;
use tokio::sync::mpsc;

#[tokio::main]
async fn main() {
    support::TEST_LOG.store(false, std::sync::atomic::Ordering::Relaxed);
    let (inbound_messages, outbound_lines, round_trips) = if full() {
        (2_000, 20_000, 300)
    } else {
        (50, 200, 10)
    };
    let server = TestServer::start(Kind::Inspircd);
    let mut person = TestClient::connect(server.port, "alice", &[]).await;
    person.join("#ops").await;

    let cfg = IrcConfig {
        name: "bench".into(),
        server: "127.0.0.1".into(),
        port: Some(server.port),
        nick: "flarebot".into(),
        channels: vec![IrcChannelConfig {
            id: "#ops".into(),
            ..Default::default()
        }],
        lines_per_second: 1_000_000.0,
        burst: 100_000,
        ..Default::default()
    };
    let adapter = Arc::new(IrcAdapter::new(cfg).expect("config"));
    let (tx, mut rx) = mpsc::channel(4096);
    let task = tokio::spawn(adapter.clone().run(tx));
    let joined = tokio::time::timeout(Duration::from_secs(10), async {
        while !adapter.is_joined("#ops") {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(joined.is_ok(), "bot did not join");

    // Inbound: one line at a time, so each sample is a clean write -> Inbound latency.
    let mut samples = Vec::with_capacity(inbound_messages);
    for i in 0..inbound_messages + 100 {
        let text = format!("INC-{}: bench line {i}", i % 50 + 1);
        let t0 = Instant::now();
        person.say("#ops", &text);
        let got = match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(got)) => got,
            Ok(None) => panic!("adapter stopped"),
            Err(_) => panic!(
                "inbound {i} timed out; person saw {:#?}",
                person.log.iter().rev().take(5).collect::<Vec<_>>()
            ),
        };
        let dt = t0.elapsed();
        assert!(got.text.starts_with("bench line"));
        if i >= 100 {
            // The first 100 warm up connections and caches.
            samples.push(dt);
        }
    }
    samples.sort();
    println!(
        "irc inbound latency over {inbound_messages} messages (inspircd, loopback): p50 {:?}  p99 {:?}  max {:?}",
        percentile(&samples, 0.50),
        percentile(&samples, 0.99),
        samples[samples.len() - 1]
    );

    // Outbound: sends back to back; the clock stops when the person has every line.
    let msg = |i: usize| Outbound {
        delivery_id: i as i64,
        channel: "#ops".into(),
        thread: None,
        incident: Some(7),
        style: Style::StatusUpdate,
        author: None,
        text: format!("status line {i}: failover progressing"),
        mentions: Vec::new(),
        edit_of: None,
        delete_of: None,
        bulk: false,
        requester: None,
    };
    let t0 = Instant::now();
    let sender = {
        let adapter = adapter.clone();
        tokio::spawn(async move {
            for i in 0..outbound_lines {
                adapter.send(&msg(i)).await.expect("send");
            }
            t0.elapsed()
        })
    };
    let mut received = 0;
    let deadline = Duration::from_secs(120);
    while received < outbound_lines {
        let l = person
            .expect_within(deadline, |l| {
                l.is("PRIVMSG") && l.sender_nick() == Some("flarebot")
            })
            .await
            .expect("outbound line missing");
        assert!(l.param(1).is_some_and(|t| {
            t.ends_with(&format!("status line {received}: failover progressing"))
        }));
        received += 1;
        if received % 1000 == 0 {
            person.log.clear();
            if std::env::var_os("IRC_BENCH_TRACE").is_some() {
                eprintln!("{received} lines at {:?}", t0.elapsed());
            }
        }
    }
    let all_received = t0.elapsed();
    let written = sender.await.expect("sender");
    println!(
        "irc outbound throughput over {outbound_lines} lines (inspircd, loopback): {:.0} lines/s written by send, {:.0} lines/s received by a client",
        outbound_lines as f64 / written.as_secs_f64(),
        outbound_lines as f64 / all_received.as_secs_f64()
    );
    task.abort();
    drop(person);

    // The whole of Flare (engine, SQLite store, outbox, adapter): `!inc list` written by a
    // person -> Flare's answer received by that person.
    let toml = format!(
        r##"
[[irc]]
name = "irc"
server = "127.0.0.1"
port = {}
nick = "flare"
lines_per_second = 1000000.0
burst = 100000
[[irc.channels]]
id = "#ops"
"##,
        server.port
    );
    let mut person = TestClient::connect(server.port, "bob", &[]).await;
    person.join("#ops").await;
    let flare = support::start(&toml, Arc::new(flare::clock::SystemClock), false).await;
    person
        .expect(|l| l.is("JOIN") && l.sender_nick() == Some("flare"))
        .await;
    let mut rtt = Vec::with_capacity(round_trips);
    for i in 0..round_trips + 20 {
        let t0 = Instant::now();
        person.say("#ops", "!inc list");
        person
            .expect(|l| l.is("PRIVMSG") && l.sender_nick() == Some("flare"))
            .await;
        if i >= 20 {
            rtt.push(t0.elapsed());
        }
        person.log.clear();
    }
    rtt.sort();
    println!(
        "flare command round trip over {round_trips} commands (person's `!inc list` -> answer received; inspircd, SQLite): p50 {:?}  p99 {:?}",
        percentile(&rtt, 0.50),
        percentile(&rtt, 0.99)
    );
    flare.running.shutdown(Duration::from_secs(1)).await;
}
