//! The per-transaction buffer: what one transaction will send, and what it has read.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::domain::incident::Incident;
use crate::store::{NewDelivery, StoreError, ThreadRow, Tx};

/// Collects what one transaction will send, and what it has already read. (Not the outbox
/// itself: that is the deliveries table these rows go to at commit.)
///
/// Outbox rows are buffered and written in a few multi-row statements before commit (every
/// statement is a round trip to the database driver). Incidents and thread lists read in the
/// transaction are kept for its rest: the rows are locked for it (`FOR UPDATE` on PostgreSQL,
/// the write lock on SQLite), so they cannot change underneath.
pub(crate) struct TxBuffer<'t> {
    pub(crate) tx: &'t mut Box<dyn Tx>,
    pub(crate) now: DateTime<Utc>,
    pub(crate) platforms: HashSet<String>,
    pub(crate) count: usize,
    /// The earliest timer this transaction added or moved.
    pub(crate) earliest_timer: Option<DateTime<Utc>>,
    /// Replies made now are bulk (the command being handled only informs).
    pub(crate) bulk_replies: bool,
    pub(super) queued: Vec<NewDelivery>,
    /// The outbox rows written so far, in the order they were written (their ids come back
    /// from the commit in the same order).
    pub(super) written: Vec<NewDelivery>,
    pub(super) incidents: HashMap<i64, Incident>,
    pub(super) threads: HashMap<i64, Vec<ThreadRow>>,
    /// Messages of a batch recorded ahead, by (platform, channel, message id): the id, or
    /// `None` for a duplicate. Taken by each event as it is handled.
    pub(super) recorded: HashMap<(String, String, String), Option<i64>>,
    /// Incidents this transaction opened (known to exist once it commits).
    pub(crate) opened: Vec<i64>,
    /// Acknowledgements made (SLA met, time from the start), counted once it commits.
    pub(crate) acked: Vec<(bool, chrono::Duration)>,
    /// The transaction may go on `Known` incidents unread (`Engine::mirror_unread`).
    pub(super) guess: bool,
}

impl<'t> TxBuffer<'t> {
    pub(crate) fn new(tx: &'t mut Box<dyn Tx>, now: DateTime<Utc>) -> Self {
        TxBuffer {
            tx,
            now,
            platforms: HashSet::new(),
            count: 0,
            earliest_timer: None,
            bulk_replies: false,
            queued: Vec::new(),
            written: Vec::new(),
            incidents: HashMap::new(),
            threads: HashMap::new(),
            recorded: HashMap::new(),
            opened: Vec::new(),
            acked: Vec::new(),
            guess: false,
        }
    }

    pub(crate) fn timer_at(&mut self, due: DateTime<Utc>) {
        self.earliest_timer = Some(self.earliest_timer.map_or(due, |e| e.min(due)));
    }

    /// Queues an outbox row; it is written, in order, by `flush` (at the latest before commit).
    pub(crate) async fn push(&mut self, d: NewDelivery) -> Result<(), StoreError> {
        self.platforms.insert(d.platform.clone());
        self.count += 1;
        self.queued.push(d);
        Ok(())
    }

    /// Writes an outbox row now (after the queued ones, so ids keep their order) and returns
    /// its id.
    pub(crate) async fn push_now(&mut self, d: NewDelivery) -> Result<i64, StoreError> {
        self.flush().await?;
        let id = self.tx.enqueue(&d, self.now).await?;
        self.platforms.insert(d.platform.clone());
        self.count += 1;
        self.written.push(d);
        Ok(id)
    }

    /// Writes the queued outbox rows. Called before anything reads deliveries, and at commit.
    pub(crate) async fn flush(&mut self) -> Result<(), StoreError> {
        if !self.queued.is_empty() {
            let rows = std::mem::take(&mut self.queued);
            self.tx.enqueue_many(&rows, self.now).await?;
            self.written.extend(rows);
        }
        Ok(())
    }

    /// The incident, read once per transaction (locked for it where the backend has row locks).
    pub(crate) async fn incident(&mut self, id: i64) -> Result<Option<Incident>, StoreError> {
        if let Some(inc) = self.incidents.get(&id) {
            return Ok(Some(inc.clone()));
        }
        let inc = self.tx.incident(id).await?;
        if let Some(i) = &inc {
            self.incidents.insert(id, i.clone());
        }
        Ok(inc)
    }

    pub(crate) async fn save_incident(&mut self, inc: &mut Incident) -> Result<(), StoreError> {
        self.tx.save_incident(inc).await?;
        self.incidents.insert(inc.id.0, inc.clone());
        Ok(())
    }

    /// The incident's threads, read once per transaction.
    pub(crate) async fn threads(&mut self, incident: i64) -> Result<Vec<ThreadRow>, StoreError> {
        if let Some(t) = self.threads.get(&incident) {
            return Ok(t.clone());
        }
        let t = self.tx.threads(incident).await?;
        self.threads.insert(incident, t.clone());
        Ok(t)
    }

    pub(crate) async fn insert_thread(&mut self, t: &ThreadRow) -> Result<(), StoreError> {
        self.threads.remove(&t.incident_id);
        self.tx.insert_thread(t).await
    }
}
