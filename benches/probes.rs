//! Two probes behind figures in docs/benchmarks.md (relay section):
//! - the memory the command grammar's compiled patterns take (RSS before and after the first
//!   command is parsed, in this fresh process);
//! - what one round trip to sqlx's SQLite thread costs: a bare `SELECT 1` back to back, and
//!   after 100 ms idle (both threads asleep, as between a person's lines), on a current-thread
//!   runtime like `flare`'s.
//!
//! `cargo bench --bench probes`; without `--bench` a quick smoke run.

mod support;

use std::time::{Duration, Instant};

use support::full;
use support::stats::{percentile, status_kib};

fn rss_kib() -> u64 {
    status_kib("self", "VmRSS:")
}

fn grammar() {
    let before = rss_kib();
    // Not a command: only the prefix pattern is compiled.
    let _ = flare::domain::command::parse("hello there");
    let prefix = rss_kib();
    // A command: every command's pattern is compiled.
    let _ = flare::domain::command::parse("!inc show INC-12");
    let all = rss_kib();
    println!(
        "command grammar: RSS {before} KiB at start, +{} KiB after the prefix pattern, \
         +{} KiB more after every command's pattern",
        prefix.saturating_sub(before),
        all.saturating_sub(prefix)
    );
}

async fn handoff(n: usize) {
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect("sqlite::memory:")
        .await
        .expect("sqlite");
    for pause in [Duration::ZERO, Duration::from_millis(100)] {
        let mut lat = Vec::with_capacity(n);
        for _ in 0..n {
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            let t = Instant::now();
            sqlx::query("SELECT 1")
                .execute(&mut conn)
                .await
                .expect("select");
            lat.push(t.elapsed());
        }
        lat.sort();
        println!(
            "sqlx SQLite round trip, {} ms idle before each: n={n} p50 {:.0} µs p99 {:.0} µs",
            pause.as_millis(),
            percentile(&lat, 0.5).as_secs_f64() * 1e6,
            percentile(&lat, 0.99).as_secs_f64() * 1e6,
        );
    }
}

fn main() {
    grammar();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(handoff(if full() { 200 } else { 10 }));
}
