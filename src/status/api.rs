//! The Statuspage v2 documents (`/api/v2/*.json`), built from a [`Snapshot`]. The mapping
//! from Flare's severities and statuses is in `domain::status_page` and
//! docs/status-page.md.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::snapshot::PublicIncident;
use super::{Snapshot, StatusState, cache};
use crate::domain::incident::Status;
use crate::domain::status_page::{
    Component, Indicator, incident_status, indicator, scheduled_maintenances,
};

/// ISO 8601, UTC, milliseconds, as Statuspage writes them.
pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Which document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doc {
    Summary,
    Status,
    Components,
    Incidents,
    Unresolved,
    Maintenances,
}

/// The document's JSON text. `<`, `>`, `&` and bidi controls are written as `\u` escapes
/// (same value once parsed) so the bytes stay inert wherever they are pasted.
pub fn render(state: &StatusState, snap: &Snapshot, doc: Doc) -> Vec<u8> {
    let page = page(state, snap);
    let value = match doc {
        Doc::Summary => json!({
            "page": page,
            "components": components(state, snap),
            "incidents": incidents(state, snap, true),
            "scheduled_maintenances": maintenances(),
            "status": status(snap),
        }),
        Doc::Status => json!({ "page": page, "status": status(snap) }),
        Doc::Components => json!({ "page": page, "components": components(state, snap) }),
        Doc::Incidents => json!({ "page": page, "incidents": incidents(state, snap, false) }),
        Doc::Unresolved => json!({ "page": page, "incidents": incidents(state, snap, true) }),
        Doc::Maintenances => json!({ "page": page, "scheduled_maintenances": maintenances() }),
    };
    escape(&value.to_string()).into_bytes()
}

fn escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<'
            | '>'
            | '&'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{2028}'
            | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// None until the maintenance issue feeds the model.
fn maintenances() -> Value {
    Value::Array(
        scheduled_maintenances()
            .iter()
            .map(|m| json!({ "id": m.id, "name": m.name }))
            .collect(),
    )
}

fn updated_at(state: &StatusState, snap: &Snapshot) -> DateTime<Utc> {
    snap.incidents
        .iter()
        .map(|p| p.incident.last_update_at)
        .max()
        .unwrap_or(state.page.since)
}

fn page(state: &StatusState, snap: &Snapshot) -> Value {
    json!({
        "id": state.page.id,
        "name": state.page.name,
        "url": state.page.url,
        "time_zone": state.page.zone.name(),
        "updated_at": iso(updated_at(state, snap)),
    })
}

fn status(snap: &Snapshot) -> Value {
    let ind: Indicator = indicator(&snap.plain());
    json!({ "indicator": ind.as_str(), "description": ind.description() })
}

fn component_json(state: &StatusState, snap: &Snapshot, c: &Component) -> Value {
    let plain = snap.plain();
    let updated = plain
        .iter()
        .filter(|i| c.affected_by(i))
        .map(|i| i.last_update_at)
        .max()
        .unwrap_or(state.page.since);
    json!({
        "id": c.id,
        "name": c.name,
        "status": c.status(&plain).as_str(),
        "created_at": iso(state.page.since),
        "updated_at": iso(updated),
        "position": c.position + 1,
        "description": if c.description.is_empty() { Value::Null } else { json!(c.description) },
        "showcase": true,
        "start_date": Value::Null,
        "group_id": Value::Null,
        "page_id": state.page.id,
        "group": false,
        "only_show_if_degraded": false,
    })
}

fn components(state: &StatusState, snap: &Snapshot) -> Value {
    Value::Array(
        state
            .page
            .components
            .iter()
            .map(|c| component_json(state, snap, c))
            .collect(),
    )
}

/// The time the incident first reached `status`, from its public updates.
fn reached(p: &PublicIncident, status: Status) -> Value {
    p.updates
        .iter()
        .rev()
        .find(|u| u.status == status)
        .map(|u| json!(iso(u.at)))
        .unwrap_or(Value::Null)
}

pub fn incident_json(state: &StatusState, p: &PublicIncident) -> Value {
    let inc = &p.incident;
    let id = inc.id.to_string();
    let count = p.updates.len();
    let updates: Vec<Value> = p
        .updates
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let mut v = json!({
                "id": format!("{id}-{}", count - i),
                "status": incident_status(u.status),
                "body": u.body,
                "incident_id": id,
                "created_at": iso(u.at),
                "updated_at": iso(u.at),
                "display_at": iso(u.at),
                "affected_components": Value::Null,
            });
            if let Some(a) = &u.author {
                v["author"] = json!(a);
            }
            v
        })
        .collect();
    let affected: Vec<Value> = state
        .page
        .components
        .iter()
        .filter(|c| c.affected_by(inc))
        .map(|c| json!({ "id": c.id, "name": c.name, "page_id": state.page.id }))
        .collect();
    json!({
        "id": id,
        "name": inc.title,
        "status": incident_status(inc.status),
        "created_at": iso(inc.started_at),
        "updated_at": iso(inc.last_update_at),
        "monitoring_at": reached(p, Status::Monitoring),
        "resolved_at": inc.resolved_at.map(iso),
        "impact": Indicator::for_severity(inc.severity).as_str(),
        "shortlink": format!("{}/incidents/{}.html", state.page.url.trim_end_matches('/'), crate::domain::status_page::slug(&id)),
        "started_at": iso(inc.started_at),
        "page_id": state.page.id,
        "incident_updates": updates,
        "components": affected,
    })
}

fn incidents(state: &StatusState, snap: &Snapshot, open_only: bool) -> Value {
    Value::Array(
        snap.incidents
            .iter()
            .filter(|p| !open_only || p.incident.status.is_open())
            .map(|p| incident_json(state, p))
            .collect(),
    )
}

async fn serve(state: StatusState, headers: HeaderMap, doc: Doc) -> Response {
    match Snapshot::read(&state).await {
        Ok(snap) => cache::respond(&headers, "application/json", render(&state, &snap, doc)),
        Err(e) => {
            tracing::error!(error = %e, "status page: cannot read incidents");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "status temporarily unavailable\n",
            )
                .into_response()
        }
    }
}

pub async fn get_summary(State(s): State<StatusState>, h: HeaderMap) -> Response {
    serve(s, h, Doc::Summary).await
}
pub async fn get_status(State(s): State<StatusState>, h: HeaderMap) -> Response {
    serve(s, h, Doc::Status).await
}
pub async fn get_components(State(s): State<StatusState>, h: HeaderMap) -> Response {
    serve(s, h, Doc::Components).await
}
pub async fn get_incidents(State(s): State<StatusState>, h: HeaderMap) -> Response {
    serve(s, h, Doc::Incidents).await
}
pub async fn get_unresolved(State(s): State<StatusState>, h: HeaderMap) -> Response {
    serve(s, h, Doc::Unresolved).await
}
pub async fn get_maintenances(State(s): State<StatusState>, h: HeaderMap) -> Response {
    serve(s, h, Doc::Maintenances).await
}
