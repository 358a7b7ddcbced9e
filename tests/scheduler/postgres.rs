//! Two schedulers (two engines, two connection pools) on one PostgreSQL database.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use flare::clock::ManualClock;
use flare::config::Config;
use flare::delivery::Wake;
use flare::engine::{Engine, Settings};
use flare::scheduler::Scheduler;
use flare::store::SharedStore;

use super::support::{at, eventually, fresh_postgres as fresh_database};

const TIMERS: usize = 1000;

fn config() -> Config {
    let mut toml = String::new();
    for i in 0..TIMERS {
        toml.push_str(&format!(
            "[[announcement]]\nname = \"tick-{i}\"\ncron = \"0 0 9 * * MON\"\ntext = \"tick {i}\"\nchannels = [\"console/#ops\"]\n"
        ));
    }
    Config::from_str_with_env(&toml, Vec::new()).expect("config")
}

fn engine(store: SharedStore, clock: &ManualClock, config: &Config) -> Arc<Engine> {
    let settings = Settings::from_config(config).expect("settings");
    Arc::new(Engine::new(
        store,
        Arc::new(clock.clone()),
        settings,
        config.console_roles(),
        Arc::new(Wake::new(["console"])),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedulers_on_one_postgres_fire_1000_timers_each_once() {
    let Some(url) = fresh_database().await else {
        return;
    };
    let config = config();
    // Tuesday 2026-11-24 10:00:00.5 EST: every timer fell due in the same second.
    let clock = ManualClock::new(at("2026-11-24T15:00:00.500Z"));
    let a = flare::store::open(&url, 4).await.expect("store a");
    let b = flare::store::open(&url, 4).await.expect("store b");
    let mut tx = a.begin().await.expect("tx");
    for i in 0..TIMERS {
        let due = at("2026-11-24T15:00:00Z") + chrono::Duration::microseconds(i as i64 * 400);
        tx.add_timer(&super::raw_timer("announcement", due, &format!("tick-{i}")))
            .await
            .expect("timer");
    }
    tx.commit().await.expect("commit");
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    for store in [a.clone(), b.clone()] {
        let e = engine(store, &clock, &config);
        let s = Scheduler::new(e, Arc::new(clock.clone()));
        tasks.push(tokio::spawn(s.run(stop_rx.clone())));
    }
    let fired = || async {
        let mut tx = a.begin().await.expect("tx");
        tx.fired_timers(None).await.expect("fired").len()
    };
    eventually(30, "1000 timers fired", || async {
        fired().await >= TIMERS
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = stop.send(true);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    assert_eq!(fired().await, TIMERS);
    let sent = a
        .pending_deliveries("console", 10 * TIMERS as i64)
        .await
        .expect("outbox");
    assert_eq!(sent.len(), TIMERS, "one announcement per timer");
    let mut texts: Vec<String> = sent.into_iter().map(|d| d.new.text).collect();
    texts.sort();
    texts.dedup();
    assert_eq!(texts.len(), TIMERS, "no announcement twice");
    // Each re-armed once, for next Monday 09:00 EST.
    let mut tx = a.begin().await.expect("tx");
    let pending = tx.pending_timers(None).await.expect("pending");
    assert_eq!(pending.len(), TIMERS);
    assert!(
        pending
            .iter()
            .all(|t| t.new.due_at == at("2026-11-30T14:00:00Z"))
    );
    drop(tx);
    a.close().await;
    b.close().await;
}
