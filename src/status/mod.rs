//! The public status page over HTTP: the Statuspage v2 JSON API (`api`), with `ETag` and
//! `Cache-Control` on every document (`cache`). The server that mounts [`router`] lives
//! elsewhere (`src/http/`); nothing here changes state.

mod api;
mod cache;
pub mod export;
mod feeds;
mod html;
mod pages;
mod snapshot;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::clock::SharedClock;
use crate::domain::status_page::{Component, PublishPolicy};
use crate::store::SharedStore;

pub use snapshot::{Snapshot, StatusError};

/// How many past incidents the documents list (Statuspage lists the 50 most recent).
pub const HISTORY_LIMIT: i64 = 50;

/// What the page reads from: the store, and the page's settings.
#[derive(Clone)]
pub struct StatusState {
    pub store: SharedStore,
    pub page: Arc<PageSettings>,
}

/// The page's settings, from `[status_page]`, `[[component]]` and `[calendar] zone`.
#[derive(Debug, Clone)]
pub struct PageSettings {
    pub id: String,
    pub name: String,
    pub url: String,
    pub zone: Tz,
    pub components: Vec<Component>,
    pub show_names: bool,
    pub publish: PublishPolicy,
    /// `page.updated_at` before any incident was published.
    pub since: DateTime<Utc>,
}

impl PageSettings {
    pub fn from_config(
        config: &crate::config::Config,
        settings: &crate::config::Settings,
        clock: &SharedClock,
    ) -> PageSettings {
        PageSettings {
            id: crate::domain::status_page::slug(&config.status_page.name),
            name: config.status_page.name.clone(),
            url: config.status_page.url.clone(),
            zone: settings.calendar.zone(),
            components: settings.components.clone(),
            show_names: settings.show_names,
            publish: settings.publish.clone(),
            since: clock.now(),
        }
    }
}

/// The status page's routes, to be merged into the HTTP server.
pub fn router(state: StatusState) -> Router {
    Router::new()
        .route("/", get(pages::get_index))
        .route("/index.html", get(pages::get_index))
        .route("/style.css", get(pages::get_style))
        .route("/history.atom", get(pages::get_atom))
        .route("/history.rss", get(pages::get_rss))
        .route("/incidents/{file}", get(pages::get_incident))
        .route("/api/v2/summary.json", get(api::get_summary))
        .route("/api/v2/status.json", get(api::get_status))
        .route("/api/v2/components.json", get(api::get_components))
        .route("/api/v2/incidents.json", get(api::get_incidents))
        .route(
            "/api/v2/incidents/unresolved.json",
            get(api::get_unresolved),
        )
        .route(
            "/api/v2/scheduled-maintenances.json",
            get(api::get_maintenances),
        )
        .route(
            "/api/v2/scheduled-maintenances/upcoming.json",
            get(api::get_maintenances),
        )
        .route(
            "/api/v2/scheduled-maintenances/active.json",
            get(api::get_maintenances),
        )
        .with_state(state)
}
