//! Handling events in batches: one transaction, one commit for a burst (group commit), the
//! messages recorded ahead in one statement, and the committed outbox rows handed straight to
//! the delivery workers.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};

use super::known::KNOWN_MAX;
use super::{Ctx, Decision, Engine, EngineError, Outcome, TxBuffer};
use crate::chat::{Inbound, InboundKind};
use crate::domain::command::{self, Parsed};
use crate::store::{Delivery, DeliveryStatus, NewDelivery, StoreError};

impl Engine {
    /// Handles one inbound event; retries on a concurrent change of the same incident.
    pub async fn handle(&self, ev: &Inbound) -> Result<Outcome, EngineError> {
        let mut outcomes = self.handle_batch(std::slice::from_ref(ev)).await?;
        Ok(outcomes.remove(0))
    }

    /// Handles several inbound events, in order, in ONE transaction (group commit: a burst
    /// costs one commit, and what the events share is read once). One outcome per event.
    ///
    /// Once an event of a channel is `UnknownThread`, the later events of that channel in the
    /// batch are not handled and are `UnknownThread` too, so the caller can retry them later
    /// in their order. On an error nothing of the batch is recorded.
    pub async fn handle_batch(&self, evs: &[Inbound]) -> Result<Vec<Outcome>, EngineError> {
        // The one place inbound events enter: from here on every field is storable.
        if evs.iter().any(super::storable::needs_care) {
            let clean: Vec<Inbound> = evs.iter().map(super::storable::storable).collect();
            return self.handle_storable(&clean).await;
        }
        self.handle_storable(evs).await
    }

    async fn handle_storable(&self, evs: &[Inbound]) -> Result<Vec<Outcome>, EngineError> {
        let mut attempt = 0;
        loop {
            // A first attempt may go on what `Known` says of an incident; a conflict means
            // that was stale (or a message was a duplicate), so later attempts read.
            let taken = self.guesses.taken.load(Ordering::Relaxed);
            match self.batch_once(evs, attempt == 0).await {
                Err(EngineError::Store(StoreError::Conflict)) if attempt < 5 => {
                    if self.guesses.taken.load(Ordering::Relaxed) != taken {
                        self.guesses.stale.fetch_add(1, Ordering::Relaxed);
                    }
                    self.known().latest.clear();
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    pub(super) async fn batch_once(
        &self,
        evs: &[Inbound],
        guess: bool,
    ) -> Result<Vec<Outcome>, EngineError> {
        let mut tx = self.store.begin().await?;
        let now = self.clock.now();
        let mut buf = TxBuffer::new(&mut tx, now);
        // One event waits for its transaction alone: that is the one worth a round trip less.
        buf.guess = guess && evs.len() == 1;
        let mut outcomes = Vec::with_capacity(evs.len());
        let mut stalled: HashSet<(&str, &str)> = HashSet::new();
        let mut wrote = false;
        if evs.len() > 1 {
            self.record_ahead(evs, &mut buf).await?;
        }
        for ev in evs {
            let key = (ev.platform.as_str(), ev.channel.as_str());
            if stalled.contains(&key) {
                outcomes.push(Outcome {
                    decision: Decision::UnknownThread,
                    deliveries: 0,
                });
                continue;
            }
            let before = buf.count;
            let decision = self.decide(ev, &mut buf).await?;
            if decision == Decision::UnknownThread {
                stalled.insert(key);
            }
            wrote |= !matches!(
                decision,
                Decision::Ignored | Decision::Duplicate | Decision::UnknownThread
            );
            outcomes.push(Outcome {
                decision,
                deliveries: buf.count - before,
            });
        }
        // Recorded ahead but not handled (parked behind an unknown thread): they are handled
        // later, and must not look like duplicates then.
        let unhandled: Vec<i64> = buf.recorded.drain().filter_map(|(_, id)| id).collect();
        buf.tx.forget_messages(&unhandled).await?;
        buf.flush().await?;
        let (mut platforms, count, timers) = (
            std::mem::take(&mut buf.platforms),
            buf.count,
            buf.earliest_timer,
        );
        let opened = std::mem::take(&mut buf.opened);
        let acked = std::mem::take(&mut buf.acked);
        let written = std::mem::take(&mut buf.written);
        let incidents = std::mem::take(&mut buf.incidents);
        if wrote || count > 0 {
            let ids = tx.commit_outbox().await?;
            for (met, latency) in acked {
                crate::measure::acknowledged(met, latency);
            }
            if !incidents.is_empty() {
                let mut known = self.known();
                if known.latest.len() + incidents.len() > KNOWN_MAX {
                    known.latest.clear();
                }
                known.latest.extend(incidents);
            }
            if self.hand_over(written, ids, now) {
                platforms.clear();
            }
            if !opened.is_empty() {
                let mut known = self.known();
                if known.incidents.len() + opened.len() > KNOWN_MAX {
                    known.incidents.clear();
                }
                known.incidents.extend(opened);
            }
        } else {
            drop(tx);
        }
        for p in &platforms {
            self.wake.notify(p);
        }
        if let Some(due) = timers {
            self.wake.timer_added(due);
        }
        Ok(outcomes)
    }

    /// Hands the outbox rows just committed to the delivery workers, so they need not read
    /// them back; says whether it did. If the ids do not match the rows, nothing is handed
    /// and the workers are notified to read the outbox instead.
    pub(super) fn hand_over(
        &self,
        written: Vec<NewDelivery>,
        mut ids: Vec<i64>,
        now: DateTime<Utc>,
    ) -> bool {
        if written.is_empty() || ids.len() != written.len() {
            return false;
        }
        // Ids grow in the order rows are inserted (SQLite's rowid, PostgreSQL's sequence
        // within one transaction), whatever order RETURNING gives them in.
        ids.sort_unstable();
        let mut by_platform: HashMap<String, Vec<Delivery>> = HashMap::new();
        for (id, new) in ids.into_iter().zip(written) {
            by_platform
                .entry(new.platform.clone())
                .or_default()
                .push(Delivery {
                    id,
                    new,
                    status: DeliveryStatus::Pending,
                    attempts: 0,
                    next_attempt_at: now,
                    last_error: None,
                    remote_id: None,
                    created_at: now,
                    sent_at: None,
                });
        }
        for (platform, rows) in by_platform {
            self.wake.hand(&platform, rows);
        }
        true
    }

    pub(super) fn message_record(
        ev: &Inbound,
        incident: Option<i64>,
        now: DateTime<Utc>,
    ) -> crate::store::MessageRecord {
        crate::store::MessageRecord {
            platform: ev.platform.clone(),
            channel: ev.channel.clone(),
            message_id: ev.message_id.clone(),
            thread: ev.thread.clone(),
            incident_id: incident,
            author_id: ev.author.id.clone(),
            author_display: ev.author.display.clone(),
            text: ev.text.clone(),
            sent_at: ev.sent_at,
            received_at: now,
        }
    }

    /// Records, in one go, the messages of a batch that will certainly be recorded: commands,
    /// and messages in a thread whose incident is known without reading (a hint or `Known`).
    /// The rest are recorded one by one as they are handled.
    pub(super) async fn record_ahead(
        &self,
        evs: &[Inbound],
        buf: &mut TxBuffer<'_>,
    ) -> Result<(), StoreError> {
        let mut records = Vec::new();
        for ev in evs.iter().filter(|e| e.event == InboundKind::Message) {
            let incident = match (ev.incident_hint, &ev.thread) {
                (Some(n), _) if self.known().incidents.contains(&n) => Some(n),
                (Some(_), _) => continue,
                (None, None) => None,
                (None, Some(t)) => {
                    let key = (ev.platform.clone(), ev.channel.clone(), t.clone());
                    match self.known().thread_incident.get(&key) {
                        Some(id) => Some(*id),
                        None => continue,
                    }
                }
            };
            if incident.is_none() && command::parse(&ev.text) == Parsed::NotACommand {
                continue;
            }
            records.push(Self::message_record(ev, incident, buf.now));
        }
        if records.len() < 2 {
            return Ok(());
        }
        let ids = buf.tx.record_messages(&records).await?;
        for (m, id) in records.into_iter().zip(ids) {
            buf.recorded
                .entry((m.platform, m.channel, m.message_id))
                .or_insert(id);
        }
        Ok(())
    }

    /// Records the message; for a message in an incident's thread, reads the incident and its
    /// threads in the same round trip (unless this transaction or `Known` has them already).
    pub(super) async fn record_message(
        &self,
        ctx: &Ctx<'_>,
        buf: &mut TxBuffer<'_>,
        m: &crate::store::MessageRecord,
    ) -> Result<Option<i64>, StoreError> {
        let Some(id) = ctx.thread_incident else {
            return buf.tx.record_message(m).await;
        };
        let want_incident = !buf.incidents.contains_key(&id);
        let want_threads =
            !buf.threads.contains_key(&id) && !self.known().threads.contains_key(&id);
        if !want_incident && !want_threads {
            return buf.tx.record_message(m).await;
        }
        let (msg, inc, threads) = buf
            .tx
            .record_message_reading(m, want_incident.then_some(id), want_threads.then_some(id))
            .await?;
        if let Some(inc) = inc {
            buf.incidents.insert(id, inc);
        }
        if let Some(t) = threads {
            buf.threads.insert(id, t);
        }
        Ok(msg)
    }
}
