//! The HTML routes: the index, one page per incident, the stylesheet.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{Snapshot, StatusState, cache, feeds, html};

fn unavailable(e: super::StatusError) -> Response {
    tracing::error!(error = %e, "status page: cannot read incidents");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "status temporarily unavailable\n",
    )
        .into_response()
}

const HTML: &str = "text/html; charset=utf-8";

pub async fn get_index(State(s): State<StatusState>, h: HeaderMap) -> Response {
    match Snapshot::read(&s).await {
        Ok(snap) => cache::respond(&h, HTML, html::index(&s, &snap).into_bytes()),
        Err(e) => unavailable(e),
    }
}

pub async fn get_style(h: HeaderMap) -> Response {
    cache::respond(
        &h,
        "text/css; charset=utf-8",
        html::STYLE.as_bytes().to_vec(),
    )
}

pub async fn get_incident(
    State(s): State<StatusState>,
    Path(file): Path<String>,
    h: HeaderMap,
) -> Response {
    let snap = match Snapshot::read(&s).await {
        Ok(snap) => snap,
        Err(e) => return unavailable(e),
    };
    let wanted = format!("incidents/{file}");
    match snap
        .incidents
        .iter()
        .find(|p| html::incident_path(p) == wanted)
    {
        Some(p) => cache::respond(&h, HTML, html::incident(&s, p).into_bytes()),
        None => (StatusCode::NOT_FOUND, "no such incident\n").into_response(),
    }
}

pub async fn get_atom(State(s): State<StatusState>, h: HeaderMap) -> Response {
    match Snapshot::read(&s).await {
        Ok(snap) => cache::respond(
            &h,
            "application/atom+xml; charset=utf-8",
            feeds::atom(&s, &snap).into_bytes(),
        ),
        Err(e) => unavailable(e),
    }
}

pub async fn get_rss(State(s): State<StatusState>, h: HeaderMap) -> Response {
    match Snapshot::read(&s).await {
        Ok(snap) => cache::respond(
            &h,
            "application/rss+xml; charset=utf-8",
            feeds::rss(&s, &snap).into_bytes(),
        ),
        Err(e) => unavailable(e),
    }
}
