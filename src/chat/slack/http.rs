//! Events API over HTTP: a signed endpoint for events and slash commands.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::Utc;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::signature::verify;
use super::{SlackAdapter, Work};

struct Endpoint {
    adapter: Arc<SlackAdapter>,
    work: mpsc::Sender<Work>,
}

/// Serves `POST /slack/events` (and the same handler on `/slack/commands`) until the listener
/// fails.
pub(crate) async fn serve(
    adapter: Arc<SlackAdapter>,
    work: mpsc::Sender<Work>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&adapter.cfg.listen)
        .await
        .map_err(|e| adapter.fatal(format_args!("cannot listen on {}: {e}", adapter.cfg.listen)))?;
    let addr = listener.local_addr()?;
    tracing::info!(slack = %adapter.cfg.name, %addr, "events endpoint listening");
    adapter.http_addr.send_replace(Some(addr));
    let state = Arc::new(Endpoint {
        adapter: adapter.clone(),
        work,
    });
    let app = Router::new()
        .route("/slack/events", post(handle))
        .route("/slack/commands", post(handle))
        .with_state(state);
    axum::serve(listener, app)
        .await
        .map_err(|e| adapter.fatal(format_args!("events endpoint failed: {e}")))
}

async fn handle(State(ep): State<Arc<Endpoint>>, headers: HeaderMap, body: Bytes) -> Response {
    let adapter = &ep.adapter;
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // Nothing is parsed before the signature checks out.
    let secret = adapter.signing_secret.as_deref().unwrap_or_default();
    if let Err(e) = verify(
        secret,
        h("x-slack-request-timestamp"),
        h("x-slack-signature"),
        &body,
        Utc::now().timestamp(),
        adapter.cfg.signature_max_age_secs,
    ) {
        tracing::warn!(slack = %adapter.cfg.name, error = %e, "rejected unsigned or badly signed request");
        return (StatusCode::UNAUTHORIZED, "invalid signature").into_response();
    }
    let content_type = h("content-type").unwrap_or_default();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let fields: HashMap<String, String> = match serde_urlencoded::from_bytes(&body) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(slack = %adapter.cfg.name, error = %e, "unreadable form body");
                return StatusCode::BAD_REQUEST.into_response();
            }
        };
        if !fields.contains_key("command") {
            // Interactive payloads and the like: acknowledged, not used.
            return StatusCode::OK.into_response();
        }
        let (reply, draft) = adapter.decoder.slash(&fields, Utc::now());
        if let Some(draft) = draft {
            let _ = ep
                .work
                .send(Work::Slash {
                    envelope_id: None,
                    draft,
                    receipt: None,
                })
                .await;
        }
        return axum::Json(json!({"response_type": "ephemeral", "text": reply})).into_response();
    }
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(slack = %adapter.cfg.name, error = %e, "unreadable event body");
            return StatusCode::BAD_REQUEST.into_response();
        }
    };
    match v.get("type").and_then(Value::as_str) {
        Some("url_verification") => {
            let challenge = v
                .get("challenge")
                .and_then(Value::as_str)
                .unwrap_or_default();
            (
                [(header::CONTENT_TYPE, "text/plain")],
                challenge.to_string(),
            )
                .into_response()
        }
        Some("event_callback") => {
            if let Some(n) = h("x-slack-retry-num") {
                tracing::debug!(slack = %adapter.cfg.name, retry = n, reason = ?h("x-slack-retry-reason"), "event redelivered");
            }
            let _ = ep
                .work
                .send(Work::Event {
                    envelope_id: None,
                    payload: v,
                    receipt: None,
                })
                .await;
            StatusCode::OK.into_response()
        }
        other => {
            tracing::debug!(slack = %adapter.cfg.name, kind = ?other, "event type not handled; acked");
            StatusCode::OK.into_response()
        }
    }
}
