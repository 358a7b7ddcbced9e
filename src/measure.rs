//! The process's Prometheus metrics: one-line calls where things happen (engine, delivery,
//! scheduler, adapters' links), rendered by `/metrics` (`http::metrics`), which adds the
//! figures it reads from the database at scrape time.
//!
//! Recorded through the `metrics` facade into `metrics-exporter-prometheus` without its own
//! listener: the calls cost next to nothing when no recorder is installed (the HTTP server
//! installs it), and the exporter writes the classic Prometheus text format.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const OPEN_INCIDENTS: &str = "flare_open_incidents";
pub const ACKS: &str = "flare_acknowledgements_total";
pub const ACK_LATENCY: &str = "flare_ack_latency_seconds";
pub const DELIVERIES: &str = "flare_deliveries";
pub const OUTBOX_DEPTH: &str = "flare_outbox_depth";
pub const OUTBOX_OLDEST: &str = "flare_outbox_oldest_pending_age_seconds";
pub const RELAY_LATENCY: &str = "flare_relay_latency_seconds";
pub const TIMER_LATENESS: &str = "flare_timer_lateness_seconds";
pub const ADAPTER_CONNECTED: &str = "flare_adapter_connected";
pub const ADAPTER_RECONNECTS: &str = "flare_adapter_reconnects_total";
pub const DATABASE_UP: &str = "flare_database_up";

/// Acks come minutes after the start, relays in milliseconds, timers late by up to hours.
const ACK_BUCKETS: &[f64] = &[
    30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0, 86400.0,
];
const RELAY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];
const LATENESS_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's recorder (once) and returns its handle; `None` when another
/// recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE.get_or_init(build).as_ref()
}

fn build() -> Option<PrometheusHandle> {
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(ACK_LATENCY.into()), ACK_BUCKETS)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full(RELAY_LATENCY.into()), RELAY_BUCKETS))
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full(TIMER_LATENESS.into()), LATENESS_BUCKETS)
        });
    let recorder = match builder {
        Ok(b) => b.build_recorder(),
        Err(e) => {
            tracing::error!(error = %e, "metrics recorder not built");
            return None;
        }
    };
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        tracing::warn!("another metrics recorder is installed; /metrics stays empty");
        return None;
    }
    describe();
    // Both outcomes exist from the start, so a rate over them is defined before the first ack.
    for sla in ["met", "breached"] {
        counter!(ACKS, "sla" => sla).increment(0);
    }
    Some(handle)
}

fn describe() {
    describe_gauge!(
        OPEN_INCIDENTS,
        "Open incidents (investigating, identified, monitoring), by severity."
    );
    describe_counter!(
        ACKS,
        "Acknowledgements, by whether the ack SLA was met or breached."
    );
    describe_histogram!(
        ACK_LATENCY,
        "Seconds from an incident's start to its acknowledgement."
    );
    describe_gauge!(
        DELIVERIES,
        "Outbox rows (messages to post), by platform and state (pending, sent, failed)."
    );
    describe_gauge!(OUTBOX_DEPTH, "Messages waiting to be posted, by platform.");
    describe_gauge!(
        OUTBOX_OLDEST,
        "Age in seconds of the oldest message waiting to be posted, by platform (0 when none waits)."
    );
    describe_histogram!(
        RELAY_LATENCY,
        "Seconds from a message's entry in the outbox to its posting, by platform."
    );
    describe_histogram!(
        TIMER_LATENESS,
        "Seconds a durable timer fired after it was due, by kind."
    );
    describe_gauge!(
        ADAPTER_CONNECTED,
        "1 when the chat platform is connected, else 0."
    );
    describe_counter!(
        ADAPTER_RECONNECTS,
        "Times the chat platform's connection came back after being up."
    );
    describe_gauge!(
        DATABASE_UP,
        "1 when the last scrape could read the database, else 0."
    );
}

/// An acknowledgement was committed: whether it met the SLA, and how long after the start.
pub fn acknowledged(met: bool, latency: chrono::Duration) {
    counter!(ACKS, "sla" => if met { "met" } else { "breached" }).increment(1);
    histogram!(ACK_LATENCY).record(seconds(latency));
}

/// A delivery was posted, `latency` after it entered the outbox.
pub fn relayed(platform: &str, latency: chrono::Duration) {
    histogram!(RELAY_LATENCY, "platform" => platform.to_string()).record(seconds(latency));
}

/// A timer of `kind` fired `late` after it was due.
pub fn timer_fired(kind: &str, late: chrono::Duration) {
    histogram!(TIMER_LATENESS, "kind" => kind.to_string()).record(seconds(late));
}

/// A platform's link changed; `reconnected` when it came back after being up.
pub fn link_state(platform: &str, connected: bool, reconnected: bool) {
    let label = platform.to_string();
    gauge!(ADAPTER_CONNECTED, "platform" => label.clone()).set(if connected { 1.0 } else { 0.0 });
    let reconnects = counter!(ADAPTER_RECONNECTS, "platform" => label);
    reconnects.increment(u64::from(reconnected));
}

fn seconds(d: chrono::Duration) -> f64 {
    d.to_std().unwrap_or(Duration::ZERO).as_secs_f64()
}
