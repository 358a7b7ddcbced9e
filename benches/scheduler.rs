//! SLA clock benchmark on SQLite: 100,000 open incidents with their ack timers (scheduling
//! time and memory), firing precision of 1,000 timers due in the same second with the real
//! scheduler task, and start-up recovery with every timer pending.
//!
//! `cargo bench --bench scheduler` runs the full size; without `--bench` (as
//! `cargo test --all-targets` runs it) it does a small smoke run.

mod support;

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, Utc};
use tokio::sync::watch;

use flare::clock::{SharedClock, SystemClock};
use flare::config::Config;
use flare::delivery::Wake;
use flare::domain::incident::Severity;
use flare::engine::{Engine, Settings};
use flare::scheduler::Scheduler;
use flare::store::{NewIncident, NewTimer, SharedStore, ThreadRow};
use support::full;
use support::stats::{percentile, status_kib};

fn memory() -> String {
    format!(
        "VmRSS {} kB, VmHWM {} kB",
        status_kib("self", "VmRSS:"),
        status_kib("self", "VmHWM:")
    )
}

fn engine(store: SharedStore, config: &Config) -> Arc<Engine> {
    let clock: SharedClock = Arc::new(SystemClock);
    Arc::new(Engine::new(
        store,
        clock,
        Settings::from_config(config).expect("settings"),
        config.console_roles(),
        Arc::new(Wake::new(["console"])),
    ))
}

async fn run(incidents: usize, burst: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let config = Config::default();
    let store = flare::store::open(&url, 4).await.expect("store");
    println!(
        "scheduler bench: {incidents} open incidents, {burst} timers due in one second (SQLite)"
    );
    println!("  start: {}", memory());

    // 1. Open incidents with their ack timers (two reminders and the breach), in batches.
    let start = Utc::now() + Duration::hours(1);
    let t = Instant::now();
    let mut ids = Vec::with_capacity(incidents);
    for chunk in 0..incidents.div_ceil(1000) {
        let mut tx = store.begin().await.expect("tx");
        for i in chunk * 1000..((chunk + 1) * 1000).min(incidents) {
            let started = start + Duration::milliseconds(i as i64 * 10);
            let deadline = started + Duration::minutes(15);
            let inc = tx
                .insert_incident(&NewIncident {
                    title: format!("bench incident {i}"),
                    severity: Severity::Sev2,
                    opened_by: "bench".into(),
                    opened_platform: "console".into(),
                    opened_channel: "#ops".into(),
                    started_at: started,
                    sla_class: "business".into(),
                    sla_window_secs: 900,
                    ack_deadline: deadline,
                    published: false,
                })
                .await
                .expect("incident");
            for (kind, due) in [
                ("ack_reminder", started + Duration::seconds(450)),
                ("ack_reminder", started + Duration::seconds(720)),
                ("ack_breach", deadline),
            ] {
                tx.add_timer(&NewTimer {
                    incident_id: Some(inc.id.0),
                    kind: kind.into(),
                    due_at: due,
                    payload: String::new(),
                })
                .await
                .expect("timer");
            }
            ids.push(inc.id.0);
        }
        tx.commit().await.expect("commit");
    }
    let took = t.elapsed();
    println!(
        "  scheduling: {incidents} incidents + {} timers in {:.2?} ({:.1} µs per incident)",
        incidents * 3,
        took,
        took.as_micros() as f64 / incidents as f64
    );
    println!("  after scheduling: {}", memory());
    let t = Instant::now();
    let next = store.next_timer_due().await.expect("next");
    println!(
        "  next due timer found in {:.2?} among {} pending ({next:?})",
        t.elapsed(),
        incidents * 3
    );

    // 2. Firing precision: `burst` reminders due within the same second, each posting to the
    // incident's thread, fired by the real scheduler task on the wall clock.
    let due_second = Utc::now() + Duration::seconds(if burst >= 1000 { 3 } else { 1 });
    let due_second = due_second - Duration::nanoseconds(due_second.timestamp_subsec_nanos() as i64);
    let mut tx = store.begin().await.expect("tx");
    for (n, id) in ids.iter().take(burst).enumerate() {
        tx.insert_thread(&ThreadRow {
            incident_id: *id,
            platform: "console".into(),
            channel: "#ops".into(),
            root_delivery_id: None,
            thread_ref: Some(format!("root-{id}")),
        })
        .await
        .expect("thread");
        tx.add_timer(&NewTimer {
            incident_id: Some(*id),
            kind: "ack_reminder".into(),
            due_at: due_second + Duration::microseconds((n as i64 * 1_000_000) / burst as i64),
            payload: String::new(),
        })
        .await
        .expect("timer");
    }
    tx.commit().await.expect("commit");
    let e = engine(store.clone(), &config);
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(Scheduler::new(e.clone(), Arc::new(SystemClock)).run(stop_rx.clone()));
    let wait_until = Instant::now() + StdDuration::from_secs(60);
    let fired = loop {
        let mut tx = store.begin().await.expect("tx");
        let fired = tx.fired_timers(None).await.expect("fired");
        drop(tx);
        if fired.len() >= burst || Instant::now() > wait_until {
            break fired;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    };
    let _ = stop.send(true);
    let _ = task.await;
    let mut late: Vec<i64> = fired.iter().filter_map(|t| t.late_ms).collect();
    late.sort_unstable();
    let last_commit = fired
        .iter()
        .filter_map(|t| t.fired_at)
        .max()
        .map(|t| (t - (due_second + Duration::seconds(1))).num_milliseconds());
    println!(
        "  firing {} timers due in one second: lateness p50 {} ms, p99 {} ms, max {} ms (last fired {} ms after the second ended)",
        late.len(),
        percentile(&late, 0.50),
        percentile(&late, 0.99),
        late.last().copied().unwrap_or_default(),
        last_commit.unwrap_or_default()
    );
    let queued = store
        .pending_deliveries("console", burst as i64 * 2)
        .await
        .expect("outbox")
        .len();
    println!("  reminders queued in the outbox: {queued}");
    println!("  after firing: {}", memory());
    store.close().await;
    drop(e);

    // 3. Start-up recovery: open the database again with every timer pending, arm the
    // recurring timers, count the overdue ones and find the next due: what the scheduler does
    // before its first sleep.
    let t = Instant::now();
    let store = flare::store::open(&url, 4).await.expect("store");
    let e = engine(store.clone(), &config);
    e.arm_recurring_timers().await.expect("arm");
    let overdue = store.overdue_timers(Utc::now()).await.expect("overdue");
    let next = store.next_timer_due().await.expect("next");
    let took = t.elapsed();
    // Every pending timer is due within ten years: a count without loading them.
    let pending = store
        .overdue_timers(Utc::now() + Duration::days(3650))
        .await
        .expect("count");
    println!(
        "  start-up recovery with {pending} pending timers ({overdue} overdue): ready to sleep in {took:.2?} (next due {next:?})"
    );
    // And with them overdue: fire a 10% slice late, as after an outage.
    let slice = (incidents / 10).max(1);
    let ids_slice: Vec<i64> = ids.iter().skip(burst).take(slice).copied().collect();
    let mut tx = store.begin().await.expect("tx");
    let past = Utc::now() - Duration::minutes(5);
    for id in &ids_slice {
        tx.add_timer(&NewTimer {
            incident_id: Some(*id),
            kind: "ack_reminder".into(),
            due_at: past,
            payload: String::new(),
        })
        .await
        .expect("timer");
    }
    tx.commit().await.expect("commit");
    let t = Instant::now();
    let mut n = 0;
    loop {
        let f = e.fire_due_timers(500).await.expect("fire");
        if f == 0 {
            break;
        }
        n += f;
    }
    println!(
        "  recovery after an outage: {n} overdue timers fired (late) in {:.2?} ({:.0} per second)",
        t.elapsed(),
        n as f64 / t.elapsed().as_secs_f64()
    );
    println!("  end: {}", memory());
    store.close().await;
}

fn main() {
    let full = full();
    let (incidents, burst) = if full { (100_000, 1_000) } else { (2_000, 100) };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(incidents, burst));
}
