//! `/metrics`: what was recorded as it happened (`crate::measure`), plus the figures read from
//! the database at scrape time, in the Prometheus text format.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics::gauge;

use super::{DB_TIMEOUT, Ops};
use crate::measure::*;

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(super) async fn metrics(State(ops): State<Arc<Ops>>) -> Response {
    let Some(recorder) = crate::measure::install() else {
        return super::error(StatusCode::SERVICE_UNAVAILABLE, "metrics are not recorded");
    };
    read_database(&ops).await;
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], recorder.render()).into_response()
}

/// Sets the gauges read from the database; a database that does not answer in time leaves
/// them as they were and sets `flare_database_up` to 0.
async fn read_database(ops: &Ops) {
    let g = match tokio::time::timeout(DB_TIMEOUT, ops.store.gauges()).await {
        Ok(Ok(g)) => g,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "metrics: cannot read the database");
            gauge!(DATABASE_UP).set(0.0);
            return;
        }
        Err(_) => {
            tracing::warn!("metrics: the database did not answer in time");
            gauge!(DATABASE_UP).set(0.0);
            return;
        }
    };
    gauge!(DATABASE_UP).set(1.0);
    for sev in ["SEV1", "SEV2", "SEV3", "SEV4"] {
        let n = g
            .open_by_severity
            .iter()
            .find(|(s, _)| s.eq_ignore_ascii_case(sev))
            .map_or(0, |(_, n)| *n);
        gauge!(OPEN_INCIDENTS, "severity" => sev).set(n as f64);
    }
    let mut platforms: Vec<String> = ops.adapters.iter().map(|a| a.name().to_string()).collect();
    platforms.extend(g.deliveries.iter().map(|(p, _, _)| p.clone()));
    platforms.sort();
    platforms.dedup();
    let now = chrono::Utc::now();
    for p in &platforms {
        let count = |state: &str| {
            g.deliveries
                .iter()
                .filter(|(dp, ds, _)| dp == p && ds == state)
                .map(|(_, _, n)| *n)
                .sum::<i64>()
        };
        for state in ["pending", "sent", "failed", "summarised"] {
            gauge!(DELIVERIES, "platform" => p.clone(), "state" => state).set(count(state) as f64);
        }
        gauge!(OUTBOX_DEPTH, "platform" => p.clone()).set(count("pending") as f64);
        let age = g
            .oldest_pending
            .iter()
            .find(|(op, _)| op == p)
            .map_or(0.0, |(_, at)| {
                (now - *at).to_std().unwrap_or_default().as_secs_f64()
            });
        gauge!(OUTBOX_OLDEST, "platform" => p.clone()).set(age);
    }
}
