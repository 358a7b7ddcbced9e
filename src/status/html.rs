//! The HTML page, server-rendered with maud: templates are Rust checked at compile time and
//! every interpolated value is HTML-escaped by default, with no template files to find at
//! run time. No JavaScript; the stylesheet is a file (`style.css`) so the CSP can forbid
//! inline script and style alike. Links are relative, so the same bytes serve a static
//! export.

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::snapshot::PublicIncident;
use super::{Snapshot, StatusState};
use crate::domain::status_page::{ComponentStatus, Indicator, incident_status, indicator, slug};

pub const STYLE: &str = include_str!("style.css");

/// Text from chat, made inert beyond HTML escaping: bidi controls (which could reorder what
/// readers see) become U+FFFD.
pub fn inert(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' => {
                '\u{fffd}'
            }
            c => c,
        })
        .collect()
}

/// The incident's page, relative to the site root.
pub fn incident_path(p: &PublicIncident) -> String {
    format!("incidents/{}.html", slug(&p.incident.id.to_string()))
}

fn times(state: &StatusState, t: DateTime<Utc>) -> Markup {
    let local = t.with_timezone(&state.page.zone);
    html! {
        time datetime=(super::api::iso(t)) {
            (local.format("%Y-%m-%d %H:%M %Z")) " (" (t.format("%H:%M UTC")) ")"
        }
    }
}

fn duration(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let m = (to - from).num_minutes().max(0);
    match (m / 60, m % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

fn layout(state: &StatusState, title: &str, root: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (inert(title)) }
                link rel="stylesheet" href={ (root) "style.css" };
            }
            body {
                header {
                    p.site { a href={ (root) "index.html" } { (inert(&state.page.name)) " status" } }
                }
                main { (body) }
                footer {
                    p {
                        "Times in " (state.page.zone.name()) " and UTC. "
                        a href={ (root) "api/v2/summary.json" } { "JSON API" }
                    }
                }
            }
        }
    }
    .into_string()
}

fn component_label(s: ComponentStatus) -> &'static str {
    match s {
        ComponentStatus::Operational => "Operational",
        ComponentStatus::UnderMaintenance => "Under maintenance",
        ComponentStatus::DegradedPerformance => "Degraded performance",
        ComponentStatus::PartialOutage => "Partial outage",
        ComponentStatus::MajorOutage => "Major outage",
    }
}

fn updates(state: &StatusState, p: &PublicIncident) -> Markup {
    html! {
        ol.updates {
            @for u in &p.updates {
                li {
                    strong { (incident_status(u.status)) } " — " (inert(&u.body))
                    @if let Some(a) = &u.author { " (" (inert(a)) ")" }
                    br;
                    (times(state, u.at))
                }
            }
        }
    }
}

/// `index.html`: overall state, components, current incidents, history by day.
pub fn index(state: &StatusState, snap: &Snapshot) -> String {
    let plain = snap.plain();
    let ind: Indicator = indicator(&plain);
    let open: Vec<&PublicIncident> = snap
        .incidents
        .iter()
        .filter(|p| p.incident.status.is_open())
        .collect();
    let past: Vec<&PublicIncident> = snap
        .incidents
        .iter()
        .filter(|p| !p.incident.status.is_open())
        .collect();
    // Newest first already; consecutive incidents of one local day share a heading.
    let mut by_day: Vec<(String, Vec<&PublicIncident>)> = Vec::new();
    for p in past.iter().copied() {
        let day = p
            .incident
            .started_at
            .with_timezone(&state.page.zone)
            .format("%Y-%m-%d")
            .to_string();
        match by_day.last_mut() {
            Some((d, list)) if *d == day => list.push(p),
            _ => by_day.push((day, vec![p])),
        }
    }
    let body = html! {
        h1 { (inert(&state.page.name)) " status" }
        section aria-labelledby="overall" {
            h2 #overall class={ "overall " (ind.as_str()) } { (ind.description()) }
        }
        @if !state.page.components.is_empty() {
            section aria-labelledby="components" {
                h2 #components { "Components" }
                ul.components {
                    @for c in &state.page.components {
                        @let st = c.status(&plain);
                        li class=(st.as_str()) {
                            span.name { (inert(&c.name)) }
                            " "
                            span.state { (component_label(st)) }
                            @if !c.description.is_empty() { br; small { (inert(&c.description)) } }
                        }
                    }
                }
            }
        }
        section aria-labelledby="current" {
            h2 #current { "Current incidents" }
            @if open.is_empty() { p { "No current incidents." } }
            @for p in &open {
                article {
                    h3 { a href=(incident_path(p)) { (inert(&p.incident.title)) } }
                    (updates(state, p))
                }
            }
        }
        section aria-labelledby="history" {
            h2 #history { "Past incidents" }
            @if past.is_empty() { p { "No past incidents." } }
            @for (day, list) in &by_day {
                h3 { (day) }
                ul {
                    @for p in list {
                        li {
                            a href=(incident_path(p)) { (inert(&p.incident.title)) }
                            @if let Some(end) = p.incident.resolved_at {
                                " — resolved after " (duration(p.incident.started_at, end))
                            }
                        }
                    }
                }
            }
        }
    };
    layout(
        state,
        &format!("{}: {}", state.page.name, ind.description()),
        "",
        body,
    )
}

/// One incident's page.
pub fn incident(state: &StatusState, p: &PublicIncident) -> String {
    let inc = &p.incident;
    let body = html! {
        h1 { (inert(&inc.title)) }
        p {
            "Status: " strong { (incident_status(inc.status)) } ". Started " (times(state, inc.started_at))
            @if let Some(end) = inc.resolved_at {
                ", resolved " (times(state, end)) " after " (duration(inc.started_at, end))
            }
            "."
        }
        section aria-labelledby="updates" {
            h2 #updates { "Updates" }
            (updates(state, p))
        }
        p { a href="../index.html" { (PreEscaped("&larr; ")) "All incidents" } }
    };
    let title = format!("{} {} — {}", state.page.name, inc.id, inc.title);
    layout(state, &title, "../", body)
}
