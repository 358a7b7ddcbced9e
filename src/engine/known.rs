//! What the engine keeps across transactions so hot paths skip a read: facts that never
//! change once true, and incidents as last committed (a guess each transaction checks).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU64;

use super::{Engine, TxBuffer};
use crate::chat::{Inbound, InboundKind};
use crate::domain::incident::Incident;
use crate::store::{StoreError, ThreadRow};

/// How often a transaction went on `Known` incidents unread, and how often that guess was
/// stale (the transaction failed and was done again the ordinary way).
#[derive(Debug, Default)]
pub struct Guesses {
    pub taken: AtomicU64,
    pub stale: AtomicU64,
}

#[derive(Default)]
pub(super) struct Known {
    /// Incidents that exist (none is ever deleted).
    pub(super) incidents: HashSet<i64>,
    pub(super) thread_incident: HashMap<(String, String, String), i64>,
    pub(super) threads: HashMap<i64, Vec<ThreadRow>>,
    /// Incidents as this engine last committed or read them: a guess that a transaction
    /// checks (`expect_incident_version`) instead of reading the incident first.
    pub(super) latest: HashMap<i64, Incident>,
}

/// Past this many entries a cache of `Known` starts over (they are only shortcuts).
pub(super) const KNOWN_MAX: usize = 10_000;

impl Engine {
    pub(super) fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The incident's threads (from `Known` once they are all sent).
    pub(super) async fn threads(
        &self,
        buf: &mut TxBuffer<'_>,
        incident: i64,
    ) -> Result<Vec<ThreadRow>, StoreError> {
        if let Some(t) = self.known().threads.get(&incident) {
            return Ok(t.clone());
        }
        let t = buf.threads(incident).await?;
        if !t.is_empty() && t.iter().all(|r| r.thread_ref.is_some()) {
            let mut known = self.known();
            if known.threads.len() >= KNOWN_MAX {
                known.threads.clear();
            }
            known.threads.insert(incident, t.clone());
        }
        Ok(t)
    }

    /// The incident an event's thread (or hint) points at.
    pub(super) async fn thread_incident(
        &self,
        ev: &Inbound,
        buf: &mut TxBuffer<'_>,
    ) -> Result<Option<i64>, StoreError> {
        if let Some(n) = ev.incident_hint {
            // A hint (IRC `INC-7: ...`) may name an incident that does not exist.
            if self.known().incidents.contains(&n) {
                return Ok(Some(n));
            }
            if buf.incident(n).await?.is_none() {
                return Ok(None);
            }
            let mut known = self.known();
            if known.incidents.len() >= KNOWN_MAX {
                known.incidents.clear();
            }
            known.incidents.insert(n);
            return Ok(Some(n));
        }
        let target = match (&ev.event, &ev.thread) {
            (_, Some(t)) => t.as_str(),
            (InboundKind::Reaction { .. }, None) => ev.message_id.as_str(),
            _ => return Ok(None),
        };
        let key = (ev.platform.clone(), ev.channel.clone(), target.to_string());
        if let Some(id) = self.known().thread_incident.get(&key) {
            return Ok(Some(*id));
        }
        let found = buf
            .tx
            .incident_for_thread(&ev.platform, &ev.channel, target)
            .await?;
        if let Some(id) = found {
            let mut known = self.known();
            if known.thread_incident.len() >= KNOWN_MAX {
                known.thread_incident.clear();
            }
            known.thread_incident.insert(key, id);
        }
        Ok(found)
    }
}
