//! Engine benchmark: open/ack/update/resolve cycles and read commands through the engine on
//! SQLite and PostgreSQL, RSS with 100,000 stored incidents, and the idle RSS of `flare run`.
//!
//!   cargo bench --bench engine                      # SQLite, plus PostgreSQL when
//!   FLARE_BENCH_DATABASE_URL=postgres://... cargo bench --bench engine
//!
//! Without `--bench` (as under `cargo test --all-targets`) it does a quick smoke run.

mod support;

use std::fmt::Display;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use flare::chat::{Author, ChannelRole, Inbound, InboundKind, PlatformKind};
use flare::clock::{SharedClock, SystemClock};
use flare::config::Config;
use flare::delivery::Wake;
use flare::engine::{Engine, Settings};
use flare::store::NewIncident;
use support::full;
use support::stats::{nearest_rank, status_kib};

/// Resident and peak memory of a process, in KiB.
fn rss_kib(pid: impl Display) -> (u64, u64) {
    (status_kib(&pid, "VmRSS:"), status_kib(&pid, "VmHWM:"))
}

struct Bench {
    engine: Engine,
    seq: u64,
}

impl Bench {
    fn event(&mut self, user: &str, text: &str, hint: Option<i64>) -> Inbound {
        self.seq += 1;
        Inbound {
            platform: "console".into(),
            kind: PlatformKind::Console,
            event: InboundKind::Message,
            channel: "#ops".into(),
            thread: hint.map(|n| format!("INC-{n}")),
            incident_hint: hint,
            author: Author {
                id: user.into(),
                display: user.into(),
            },
            text: text.into(),
            message_id: format!("bench-{}", self.seq),
            sent_at: Utc::now(),
            receipt: None,
        }
    }

    async fn timed(&mut self, user: &str, text: &str, hint: Option<i64>, into: &mut Vec<Duration>) {
        let ev = self.event(user, text, hint);
        let t = Instant::now();
        self.engine.handle(&ev).await.expect("handled");
        into.push(t.elapsed());
    }
}

async fn engine_on(url: &str) -> Bench {
    let config = Config::default();
    let store = flare::store::open(url, 4).await.expect("store");
    let settings = Settings::from_config(&config).expect("settings");
    let clock: SharedClock = Arc::new(SystemClock);
    let roles = vec![ChannelRole {
        platform: "console".into(),
        kind: PlatformKind::Console,
        channel: "#ops".into(),
        incident: true,
        announce: true,
    }];
    let engine = Engine::new(
        store,
        clock,
        settings,
        roles,
        Arc::new(Wake::new(["console"])),
    );
    Bench { engine, seq: 0 }
}

fn report(label: &str, mut samples: Vec<Duration>, wall: Duration) {
    samples.sort();
    let n = samples.len();
    println!(
        "{label:<34} n={n:>6}  {:>8.0}/s  p50 {:>7.3} ms  p99 {:>7.3} ms  max {:>7.3} ms",
        n as f64 / wall.as_secs_f64(),
        nearest_rank(&samples, 0.50).as_secs_f64() * 1e3,
        nearest_rank(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}

async fn cycles(label: &str, url: &str, cycles: usize) {
    let mut b = engine_on(url).await;
    let mut writes = Vec::new();
    let mut by_kind: [Vec<Duration>; 4] = Default::default();
    let started = Instant::now();
    for i in 0..cycles {
        let n = i as i64 + 1;
        let steps = [
            ("alice", format!("!inc open Bench incident {i} sev2"), None),
            ("bob", "!inc ack".to_string(), Some(n)),
            (
                "alice",
                "!inc update failover in progress".to_string(),
                Some(n),
            ),
            ("alice", "!inc resolve done".to_string(), Some(n)),
        ];
        for (k, (user, text, hint)) in steps.into_iter().enumerate() {
            let mut one = Vec::with_capacity(1);
            b.timed(user, &text, hint, &mut one).await;
            by_kind[k].extend(&one);
            writes.extend(one);
        }
    }
    let wall = started.elapsed();
    report(&format!("{label} write commands"), writes, wall);
    for (k, name) in ["open", "ack", "update", "resolve"].iter().enumerate() {
        let mut v = std::mem::take(&mut by_kind[k]);
        v.sort();
        println!(
            "  {label} `{name}`: p50 {:.3} ms, p99 {:.3} ms",
            nearest_rank(&v, 0.50).as_secs_f64() * 1e3,
            nearest_rank(&v, 0.99).as_secs_f64() * 1e3
        );
    }
    for name in ["list", "show", "help"] {
        let mut reads = Vec::new();
        let started = Instant::now();
        for i in 0..cycles.max(10) {
            // `show` walks the incidents, as people would, rather than asking for one
            // incident whose replies pile up in the outbox.
            let text = match name {
                "show" => format!("!inc show INC-{}", i % cycles + 1),
                other => format!("!inc {other}"),
            };
            b.timed("carol", &text, None, &mut reads).await;
        }
        report(&format!("{label} read `{name}`"), reads, started.elapsed());
    }
}

async fn many_incidents(url: &str, count: usize) {
    let b = engine_on(url).await;
    let store = b.engine.store().clone();
    let started = Instant::now();
    let now = Utc::now();
    for chunk in 0..count.div_ceil(1000) {
        let mut tx = store.begin().await.expect("tx");
        for i in 0..1000.min(count - chunk * 1000) {
            tx.insert_incident(&NewIncident {
                title: format!("stored incident {chunk}-{i}"),
                severity: flare::domain::incident::Severity::Sev3,
                opened_by: "alice".into(),
                opened_platform: "console".into(),
                opened_channel: "#ops".into(),
                started_at: now,
                sla_class: "business".into(),
                sla_window_secs: 900,
                ack_deadline: now + chrono::Duration::minutes(15),
                published: false,
            })
            .await
            .expect("insert");
        }
        tx.commit().await.expect("commit");
    }
    let (rss, hwm) = rss_kib("self");
    println!(
        "stored {count} incidents in {:.1} s; bench process RSS {:.1} MiB (peak {:.1} MiB)",
        started.elapsed().as_secs_f64(),
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    let mut b = b;
    let mut reads = Vec::new();
    let t = Instant::now();
    for _ in 0..50 {
        b.timed("carol", "!inc show INC-99999", None, &mut reads)
            .await;
    }
    report("show with 100k stored", reads, t.elapsed());
}

fn idle_rss(db: &str) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_flare"))
        .arg("run")
        .env("FLARE__DATABASE__URL", db)
        .env_remove("FLARE_CONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("flare run");
    std::thread::sleep(Duration::from_secs(2));
    let (rss, hwm) = rss_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "idle `flare run` (SQLite, no platforms): RSS {:.1} MiB (peak {:.1} MiB)",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
}

fn main() {
    let full = full();
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The runtime `flare` itself runs on.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let n = if full { 2_500 } else { 20 };
    rt.block_on(async {
        let url = format!("sqlite://{}/bench.db", dir.path().display());
        cycles("sqlite", &url, n).await;
        if let Ok(pg) = std::env::var("FLARE_BENCH_DATABASE_URL") {
            cycles("postgres", &pg, n).await;
        }
        let big = format!("sqlite://{}/big.db", dir.path().display());
        many_incidents(&big, if full { 100_000 } else { 1_000 }).await;
    });
    if full {
        idle_rss(&format!("sqlite://{}/idle.db", dir.path().display()));
    }
}
