//! `/history.atom` and `/history.rss`: the published incidents, newest first, one entry each
//! with its public updates, written by the `atom_syndication` and `rss` crates (which do the
//! XML escaping). Bidi controls are made inert as on the page.

use atom_syndication as atom;
use chrono::{DateTime, Utc};

use super::html::{incident_path, inert};
use super::snapshot::PublicIncident;
use super::{Snapshot, StatusState};
use crate::domain::status_page::incident_status;

/// An absolute link when `[status_page] url` is set; relative otherwise.
fn link(state: &StatusState, path: &str) -> String {
    let base = state.page.url.trim_end_matches('/');
    if base.is_empty() {
        path.to_string()
    } else {
        format!("{base}/{path}")
    }
}

fn id(state: &StatusState, p: &PublicIncident) -> String {
    format!("urn:flare:{}:{}", state.page.id, p.incident.id)
}

fn text(p: &PublicIncident) -> String {
    p.updates
        .iter()
        .map(|u| {
            format!(
                "{} ({}): {}",
                super::api::iso(u.at),
                incident_status(u.status),
                inert(&u.body)
            )
        })
        .chain(std::iter::once(format!(
            "Status: {}",
            incident_status(p.incident.status)
        )))
        .collect::<Vec<_>>()
        .join("\n")
}

fn updated(state: &StatusState, snap: &Snapshot) -> DateTime<Utc> {
    snap.incidents
        .iter()
        .map(|p| p.incident.last_update_at)
        .max()
        .unwrap_or(state.page.since)
}

pub fn atom(state: &StatusState, snap: &Snapshot) -> String {
    let entries = snap
        .incidents
        .iter()
        .map(|p| atom::Entry {
            title: atom::Text::plain(inert(&p.incident.title)),
            id: id(state, p),
            updated: p.incident.last_update_at.fixed_offset(),
            published: Some(p.incident.started_at.fixed_offset()),
            links: vec![atom::Link {
                href: link(state, &incident_path(p)),
                rel: "alternate".into(),
                mime_type: Some("text/html".into()),
                ..Default::default()
            }],
            summary: Some(atom::Text::plain(text(p))),
            ..Default::default()
        })
        .collect();
    let feed = atom::Feed {
        title: atom::Text::plain(format!(
            "{} status: incident history",
            inert(&state.page.name)
        )),
        id: format!("urn:flare:{}:history", state.page.id),
        updated: updated(state, snap).fixed_offset(),
        authors: vec![atom::Person {
            name: inert(&state.page.name),
            ..Default::default()
        }],
        links: vec![
            atom::Link {
                href: link(state, "history.atom"),
                rel: "self".into(),
                mime_type: Some("application/atom+xml".into()),
                ..Default::default()
            },
            atom::Link {
                href: link(state, "index.html"),
                rel: "alternate".into(),
                mime_type: Some("text/html".into()),
                ..Default::default()
            },
        ],
        entries,
        ..Default::default()
    };
    feed.to_string()
}

pub fn rss(state: &StatusState, snap: &Snapshot) -> String {
    let items = snap
        .incidents
        .iter()
        .map(|p| rss::Item {
            title: Some(inert(&p.incident.title)),
            link: Some(link(state, &incident_path(p))),
            // RSS readers render the description as HTML: escape it, so it shows as text.
            description: Some(maud::html! { (text(p)) }.into_string()),
            guid: Some(rss::Guid {
                value: id(state, p),
                permalink: false,
            }),
            pub_date: Some(p.incident.started_at.to_rfc2822()),
            ..Default::default()
        })
        .collect();
    let channel = rss::Channel {
        title: format!("{} status: incident history", inert(&state.page.name)),
        link: link(state, "index.html"),
        description: format!(
            "Incidents published on the {} status page",
            inert(&state.page.name)
        ),
        last_build_date: Some(updated(state, snap).to_rfc2822()),
        items,
        ..Default::default()
    };
    channel.to_string()
}
