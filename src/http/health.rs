//! `/healthz` (the process answers) and `/readyz` (the database answers and every platform
//! is connected).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::{DB_TIMEOUT, Ops};

pub(super) async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub(super) async fn readyz(State(ops): State<Arc<Ops>>) -> (StatusCode, Json<Value>) {
    let mut checks = Map::new();
    let database = match tokio::time::timeout(DB_TIMEOUT, ops.store.ping()).await {
        Ok(Ok(())) => json!({ "ok": true }),
        Ok(Err(e)) => json!({ "ok": false, "detail": format!("database error: {e}") }),
        Err(_) => json!({ "ok": false, "detail": format!("no answer within {DB_TIMEOUT:?}") }),
    };
    checks.insert("database".into(), database);
    for adapter in &ops.adapters {
        let check = match crate::health::link(adapter.as_ref()) {
            Some(l) if l.connected => json!({ "ok": true }),
            Some(l) => json!({
                "ok": false,
                "detail": format!(
                    "{} since {}",
                    if l.detail.is_empty() { "disconnected" } else { &l.detail },
                    l.since.format("%Y-%m-%dT%H:%M:%SZ")
                ),
            }),
            None => json!({ "ok": false, "detail": "not started" }),
        };
        checks.insert(adapter.name().to_string(), check);
    }
    let ready = checks.values().all(|c| c["ok"] == json!(true));
    let (status, word) = if ready {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    };
    (status, Json(json!({ "status": word, "checks": checks })))
}
