//! The HTTP server: one axum router for operators (`/healthz`, `/readyz`, `/metrics`), to
//! which other parts (the status page) add theirs with `Router::merge`. Nothing served here
//! changes state: every route is a GET.

mod health;
mod metrics;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::chat::ChatAdapter;
use crate::store::SharedStore;

/// The largest request body accepted: no route takes one, so this only bounds what a client
/// can make the server read.
pub const MAX_BODY: usize = 16 * 1024;

/// How long `/readyz` and `/metrics` wait for the database.
const DB_TIMEOUT: Duration = Duration::from_secs(2);

/// What the operator routes read.
pub struct Ops {
    pub store: SharedStore,
    pub adapters: Vec<Arc<dyn ChatAdapter>>,
}

/// The operator routes: `/healthz`, `/readyz`, `/metrics`.
pub fn ops_router(ops: Arc<Ops>) -> Router {
    Router::new()
        .route("/healthz", axum::routing::get(health::healthz))
        .route("/readyz", axum::routing::get(health::readyz))
        .route("/metrics", axum::routing::get(metrics::metrics))
        .with_state(ops)
}

/// `routes` with what every response shares: 404 for unknown paths, a time limit and a body
/// limit. (Wrong methods on a known path get axum's 405 with an `Allow` header.)
pub fn app(routes: Router, timeout: Duration) -> Router {
    routes
        .fallback(not_found)
        .layer(RequestBodyLimitLayer::new(MAX_BODY))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not found")
}

/// A small JSON error body.
fn error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Starts the HTTP server as configured, serving `routes` (the operator routes, and what
/// else is merged in); the bound address (port 0 picks a free one) and the task, which runs
/// until aborted. `None` when `[http]` turns the server off or its address cannot be bound.
pub async fn start(
    config: &crate::config::http::HttpConfig,
    routes: Router,
) -> anyhow::Result<Option<(SocketAddr, JoinHandle<()>)>> {
    let Some(addr) = config.address().map_err(|p| anyhow::anyhow!("{p}"))? else {
        return Ok(None);
    };
    // Incident response matters more than its health page: a port in use costs the page,
    // not the bot.
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(%addr, error = %e, "cannot listen on http.listen; running without the HTTP server (health, readiness, metrics)");
            return Ok(None);
        }
    };
    let bound = listener.local_addr()?;
    let recorder = crate::measure::install().cloned();
    let app = app(routes, config.timeout());
    let task = tokio::spawn(async move {
        // Histograms keep their samples until drained: drain them even when nobody scrapes.
        let upkeep = async {
            let Some(recorder) = recorder else {
                return std::future::pending().await;
            };
            let mut every = tokio::time::interval(Duration::from_secs(5));
            loop {
                every.tick().await;
                recorder.run_upkeep();
            }
        };
        tokio::select! {
            served = axum::serve(listener, app) => if let Err(e) = served {
                tracing::error!(error = %e, "HTTP server stopped");
            },
            () = upkeep => {}
        }
    });
    Ok(Some((bound, task)))
}
