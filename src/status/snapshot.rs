//! One consistent read of what the page shows: the published incidents (open ones and the
//! most recent history) with their public updates.

use crate::domain::incident::Incident;
use crate::domain::status_page::{PublicUpdate, public_updates};
use crate::store::StoreError;

use super::StatusState;

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("reading the status page's incidents: {0}")]
    Store(#[from] StoreError),
}

/// A published incident and its public updates (newest first).
#[derive(Debug, Clone)]
pub struct PublicIncident {
    pub incident: Incident,
    pub updates: Vec<PublicUpdate>,
}

#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Newest first: open ones and the history, at most `HISTORY_LIMIT`, plus every open one.
    pub incidents: Vec<PublicIncident>,
}

impl Snapshot {
    pub async fn read(state: &StatusState) -> Result<Snapshot, StatusError> {
        let mut tx = state.store.begin().await?;
        let mut list = tx.published_incidents(super::HISTORY_LIMIT).await?;
        // An open incident older than the history window is still current.
        for open in tx.open_incidents().await? {
            if open.published && !list.iter().any(|i| i.id == open.id) {
                list.push(open);
            }
        }
        list.sort_by_key(|i| std::cmp::Reverse(i.id));
        let mut incidents = Vec::with_capacity(list.len());
        for incident in list {
            let timeline = tx.timeline(incident.id.0).await?;
            let updates = public_updates(&incident, &timeline, state.page.show_names);
            incidents.push(PublicIncident { incident, updates });
        }
        Ok(Snapshot { incidents })
    }

    pub fn plain(&self) -> Vec<Incident> {
        self.incidents.iter().map(|p| p.incident.clone()).collect()
    }
}
