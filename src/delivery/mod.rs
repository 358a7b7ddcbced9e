//! The outbox worker: one independent queue per platform, so a slow or down platform never
//! delays the others. Within a platform, each channel keeps its order: a delivery that must
//! wait (backoff, Retry-After, thread root not sent yet) holds back the later ones of its
//! channel only.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::chat::{ChatAdapter, Outbound, SendError, Sent, Style};
use crate::clock::SharedClock;
use crate::config::{Config, Problem, parse_duration};
use crate::retry;
use crate::store::{Delivery, DeliveryStatus, NewDelivery, SharedStore, StoreError};
/// Moved to its own module (the engine and the scheduler use it too); kept here for old paths.
pub use crate::wake::Wake;

pub mod summary;

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial: Duration,
    pub max: Duration,
}

impl RetryPolicy {
    pub fn from_config(c: &Config) -> Result<RetryPolicy, Vec<Problem>> {
        let mut problems = Vec::new();
        let initial = parse_duration(
            "delivery.initial_backoff",
            &c.delivery.initial_backoff,
            &mut problems,
        );
        let max = parse_duration(
            "delivery.max_backoff",
            &c.delivery.max_backoff,
            &mut problems,
        );
        match (initial, max) {
            (Some(initial), Some(max)) if problems.is_empty() => Ok(RetryPolicy {
                max_attempts: c.delivery.max_attempts,
                initial,
                max,
            }),
            _ => Err(problems),
        }
    }

    /// The wait before the next try after `attempts` failed ones (`crate::retry`'s rule, the
    /// count kept in the outbox row), never below `at_least` (the platform's Retry-After).
    pub fn backoff(&self, attempts: u32, at_least: Option<Duration>) -> Duration {
        let wait = retry::Policy::new(self.initial, self.max).delay(attempts);
        wait.max(at_least.unwrap_or_default())
    }
}

/// Counters for logs, benchmarks and tests.
#[derive(Debug, Default)]
pub struct Stats {
    pub sent: AtomicU64,
    pub retried: AtomicU64,
    pub failed: AtomicU64,
    /// Reads of the outbox by the workers (rows handed over by the engine need none).
    pub outbox_reads: AtomicU64,
}

pub struct Worker {
    pub store: SharedStore,
    pub clock: SharedClock,
    pub adapter: Arc<dyn ChatAdapter>,
    pub wake: Arc<Wake>,
    pub policy: RetryPolicy,
    pub stats: Arc<Stats>,
    /// Thread roots already sent, by (incident, channel): a root's id never changes once
    /// known, so each copy need not ask the database again.
    pub threads: std::sync::Mutex<HashMap<(i64, String), String>>,
}

impl Worker {
    pub fn new(
        store: SharedStore,
        clock: SharedClock,
        adapter: Arc<dyn ChatAdapter>,
        wake: Arc<Wake>,
        policy: RetryPolicy,
        stats: Arc<Stats>,
    ) -> Worker {
        Worker {
            store,
            clock,
            adapter,
            wake,
            policy,
            stats,
            threads: Default::default(),
        }
    }

    fn known_thread(&self, incident: i64, channel: &str) -> Option<String> {
        self.threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(incident, channel.to_string()))
            .cloned()
    }

    fn remember_thread(&self, incident: i64, channel: &str, thread: &str) {
        self.threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((incident, channel.to_string()), thread.to_string());
    }
}

const BATCH: i64 = 200;

/// How much of a platform's outbox is read to summarise a backlog in one line.
const BACKLOG_SCAN: i64 = 5000;

/// At most this many sends are marked `sent` in one statement. It is also the crash window: a
/// Flare killed after the platform accepted these messages and before the statement re-sends
/// them at its next start (docs/architecture.md).
pub const MARK_BATCH: usize = 16;

impl Worker {
    /// Drains the platform's outbox until `shutdown` turns true.
    ///
    /// The outbox is read when the worker starts, when it was told to (`Wake::notify`), when
    /// a wait it asked for is over, and after any pass that left something pending (a retry,
    /// a channel waiting for its thread root, a full batch). Otherwise nothing but the rows
    /// the engine hands over (`Wake::hand`) can be pending, so those are sent as handed.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let platform = self.adapter.name().to_string();
        let lane = self.wake.get(&platform);
        // Nothing pending in the outbox but what is handed over: starts false (read it first).
        let mut clean = false;
        // The highest delivery id any pass has taken: a handed row at or below it was read
        // from the outbox already.
        let mut taken = 0i64;
        loop {
            if *shutdown.borrow() {
                return;
            }
            // Taken before the outbox is read, so a row handed over and dropped here was
            // committed before that read, and the read finds it.
            let handed = lane.take_handed();
            let reconnected = lane.reconnected.swap(false, Ordering::SeqCst);
            let reread = lane.reread.swap(false, Ordering::SeqCst) || !clean || reconnected;
            let source = if reread {
                Source::Outbox
            } else if handed.iter().any(|r| r.id <= taken) {
                // Some of them came back in the last read; read again rather than guess.
                clean = false;
                continue;
            } else {
                Source::Handed(handed)
            };
            let next = match self.drain(&platform, source, reconnected, &mut taken).await {
                Ok((next, done)) => {
                    clean = done;
                    next
                }
                Err(e) => {
                    clean = false;
                    tracing::error!(platform = %platform, error = %e, "outbox read failed");
                    Some(Wait::Until(self.clock.now() + chrono::Duration::seconds(1)))
                }
            };
            let sleep = match next {
                Some(Wait::Now) => continue,
                Some(Wait::Until(at)) => (at - self.clock.now())
                    .to_std()
                    .unwrap_or(Duration::ZERO)
                    .max(Duration::from_millis(5)),
                None => Duration::from_secs(3600),
            };
            tokio::select! {
                _ = lane.notify.notified() => {}
                _ = tokio::time::sleep(sleep) => clean = false,
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Sends what is due; says when to look again, and whether nothing is left pending.
    async fn drain(
        &self,
        platform: &str,
        source: Source,
        reconnected: bool,
        taken: &mut i64,
    ) -> Result<(Option<Wait>, bool), StoreError> {
        let (rows, full) = match source {
            Source::Outbox => {
                self.stats.outbox_reads.fetch_add(1, Ordering::Relaxed);
                let rows = self.store.pending_deliveries(platform, BATCH).await?;
                let full = rows.len() as i64 == BATCH;
                (rows, full)
            }
            Source::Handed(rows) => (rows, false),
        };
        let rows = match self.adapter.relay_backlog_limit() {
            Some(limit) => self.summarise_backlog(platform, rows, limit).await?,
            None => rows,
        };
        if let Some(last) = rows.iter().map(|r| r.id).max() {
            *taken = (*taken).max(last);
        }
        let mut pass = Pass {
            reconnected,
            ..Pass::default()
        };
        let result = self.drain_rows(rows, &mut pass).await;
        // Whatever happened to the rest, the sends that went out are recorded.
        self.flush_marks(&mut pass.marks).await?;
        result?;
        let done = !full && pass.blocked.is_empty() && pass.next.is_none();
        Ok((
            if pass.progressed && full {
                Some(Wait::Now)
            } else {
                pass.next.map(Wait::Until)
            },
            done,
        ))
    }

    /// Past the adapter's backlog limit for a place, the rest of its relayed messages are
    /// marked `summarised` and one summary line is queued instead (with the outbox as it is
    /// now, so one line covers the whole backlog). Returns the rows still to send.
    async fn summarise_backlog(
        &self,
        platform: &str,
        rows: Vec<Delivery>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        if summary::summarise(&rows, limit).is_empty() {
            return Ok(rows);
        }
        let all = self
            .store
            .pending_deliveries(platform, BACKLOG_SCAN)
            .await?;
        let summaries = summary::summarise(&all, limit);
        if summaries.is_empty() {
            return Ok(rows);
        }
        let mut tx = self.store.begin().await?;
        let mut skipped = HashSet::new();
        for s in &summaries {
            tx.summarise_deliveries(&s.skipped).await?;
            tx.enqueue(&s.line, self.clock.now()).await?;
            tracing::info!(%platform, channel = %s.line.channel, incident = ?s.line.incident_id, skipped = s.skipped.len(), "relay backlog summarised");
            skipped.extend(s.skipped.iter().copied());
        }
        tx.commit().await?;
        self.wake.notify(platform);
        Ok(rows
            .into_iter()
            .filter(|r| !skipped.contains(&r.id))
            .collect())
    }

    async fn flush_marks(&self, marks: &mut Vec<(i64, String)>) -> Result<(), StoreError> {
        if marks.is_empty() {
            return Ok(());
        }
        self.store.mark_sent_many(marks, self.clock.now()).await?;
        self.stats
            .sent
            .fetch_add(marks.len() as u64, Ordering::Relaxed);
        marks.clear();
        Ok(())
    }

    async fn drain_rows(&self, mut rows: Vec<Delivery>, pass: &mut Pass) -> Result<(), StoreError> {
        // What is due of normal priority goes before bulk answers; each keeps its order, and
        // a channel that must wait holds back both (a bulk row never overtakes).
        rows.sort_by_key(|r| r.new.bulk);
        for row in rows {
            if pass.blocked.contains(&row.new.channel) {
                continue;
            }
            // A row waiting on its backoff after a failed try goes now if the adapter has
            // connected again since: the failure was most likely the link that is back.
            let retry_now = pass.reconnected && row.attempts > 0;
            if row.next_attempt_at > self.clock.now() && !retry_now {
                let at = row.next_attempt_at;
                pass.block(&row.new.channel, at);
                continue;
            }
            let d = &row.new;
            let plain =
                d.style != Style::ThreadRoot && d.edit_of.is_none() && d.delete_of.is_none();
            if !plain {
                // Earlier sends go first, and the copy being edited may be among them.
                self.send_batch(pass).await?;
                self.flush_marks(&mut pass.marks).await?;
            }
            match self.prepare(&row).await? {
                Prepared::Wait => {
                    // The thread root of this channel is not sent yet; it is earlier in the
                    // queue, so it is being retried: wait with it.
                    pass.blocked.insert(row.new.channel.clone());
                }
                Prepared::Done => pass.progressed = true,
                Prepared::Send(out) if plain => {
                    pass.progressed = true;
                    pass.batch.push((row, *out));
                    if pass.batch.len() >= MARK_BATCH {
                        self.send_batch(pass).await?;
                        self.flush_marks(&mut pass.marks).await?;
                    }
                }
                Prepared::Send(out) => {
                    pass.progressed = true;
                    let result = self.adapter.send(&out).await;
                    if let Some(retry_at) = self.record(&row, result, &mut pass.marks).await? {
                        pass.block(&row.new.channel, retry_at);
                    }
                }
            }
        }
        self.send_batch(pass).await
    }

    /// Sends the plain sends gathered so far in one call to the adapter, in order. A channel
    /// whose send failed keeps its later rows pending behind it.
    async fn send_batch(&self, pass: &mut Pass) -> Result<(), StoreError> {
        let (mut rows, mut outs): (Vec<Delivery>, Vec<Outbound>) =
            std::mem::take(&mut pass.batch).into_iter().unzip();
        while !rows.is_empty() {
            let results = self.adapter.send_many(&outs).await;
            if results.is_empty() {
                tracing::error!(platform = %self.adapter.name(), "adapter tried none of a batch");
                break;
            }
            let tried = results.len().min(rows.len());
            for (row, result) in rows.iter().zip(results) {
                if let Some(retry_at) = self.record(row, result, &mut pass.marks).await? {
                    pass.block(&row.new.channel, retry_at);
                }
            }
            let (rest_rows, rest_outs): (Vec<Delivery>, Vec<Outbound>) = rows
                .drain(tried..)
                .zip(outs.drain(tried..))
                .filter(|(r, _)| !pass.blocked.contains(&r.new.channel))
                .unzip();
            rows = rest_rows;
            outs = rest_outs;
        }
        Ok(())
    }

    async fn prepare(&self, row: &Delivery) -> Result<Prepared, StoreError> {
        let d = &row.new;
        let mut text = d.text.clone();
        let mut thread = d.thread_ref.clone();
        if d.in_thread
            && let Some(incident) = d.incident_id
        {
            if let Some(known) = self.known_thread(incident, &d.channel) {
                thread = Some(known);
            } else if let Some(t) = self.store.thread(incident, &d.platform, &d.channel).await? {
                match t.thread_ref {
                    Some(r) => {
                        self.remember_thread(incident, &d.channel, &r);
                        thread = Some(r)
                    }
                    None => {
                        let root_pending = match t.root_delivery_id {
                            Some(root) if root != row.id => self
                                .store
                                .delivery(root)
                                .await?
                                .is_some_and(|r| r.status == DeliveryStatus::Pending),
                            _ => false,
                        };
                        if root_pending {
                            return Ok(Prepared::Wait);
                        }
                    }
                }
            }
        }
        let mut edit_of = None;
        if let Some(orig) = d.edit_of {
            edit_of = self.store.delivery(orig).await?.and_then(|o| o.remote_id);
            if edit_of.is_none() {
                text = format!("(edited) {text}");
            }
        }
        let mut delete_of = None;
        if let Some(orig) = d.delete_of {
            delete_of = self.store.delivery(orig).await?.and_then(|o| o.remote_id);
            if delete_of.is_none() {
                // The copy never went out: nothing to delete.
                self.store
                    .mark_sent(row.id, "", None, self.clock.now())
                    .await?;
                return Ok(Prepared::Done);
            }
        }
        Ok(Prepared::Send(Box::new(Outbound {
            delivery_id: row.id,
            channel: d.channel.clone(),
            thread,
            incident: d.incident_id,
            style: d.style,
            author: d.author.clone(),
            text,
            mentions: d.mentions.clone(),
            edit_of,
            delete_of,
            bulk: d.bulk,
            requester: d.requester.clone(),
        })))
    }

    /// Records how a send went (a plain send into `marks`, recorded with the next batch);
    /// when it must be retried, says when.
    async fn record(
        &self,
        row: &Delivery,
        result: Result<Sent, SendError>,
        marks: &mut Vec<(i64, String)>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let platform = self.adapter.name();
        if result.is_ok() {
            crate::measure::relayed(platform, self.clock.now() - row.created_at);
        }
        match result {
            Ok(sent) if row.new.style == Style::ThreadRoot => {
                // A root is recorded at once: later rows and the engine look its thread up.
                let thread = sent
                    .thread
                    .clone()
                    .unwrap_or_else(|| sent.remote_id.clone());
                self.store
                    .mark_sent(row.id, &sent.remote_id, Some(&thread), self.clock.now())
                    .await?;
                if let Some(incident) = row.new.incident_id {
                    self.remember_thread(incident, &row.new.channel, &thread);
                }
                self.stats.sent.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
            Ok(sent) => {
                marks.push((row.id, sent.remote_id));
                Ok(None)
            }
            Err(SendError::Retry { after, reason }) => {
                let attempts = row.attempts as u32 + 1;
                if attempts >= self.policy.max_attempts {
                    self.fail(row, &format!("gave up after {attempts} attempts: {reason}"))
                        .await?;
                    return Ok(None);
                }
                let wait = self.policy.backoff(row.attempts as u32, after);
                let next = self.clock.now()
                    + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(60));
                tracing::debug!(%platform, channel = %row.new.channel, delivery = row.id, %reason, ?wait, "delivery will be retried");
                self.store.mark_retry(row.id, &reason, next).await?;
                self.stats.retried.fetch_add(1, Ordering::Relaxed);
                Ok(Some(next))
            }
            Err(SendError::Permanent(reason)) => {
                self.fail(row, &reason).await?;
                Ok(None)
            }
        }
    }

    async fn fail(&self, row: &Delivery, reason: &str) -> Result<(), StoreError> {
        let d = &row.new;
        tracing::warn!(platform = %d.platform, channel = %d.channel, delivery = row.id, reason, "delivery failed");
        self.store.mark_failed(row.id, reason).await?;
        self.stats.failed.fetch_add(1, Ordering::Relaxed);
        if d.style != Style::ThreadRoot {
            return Ok(());
        }
        // Tell whoever opened the incident where its thread could not be created.
        let Some(incident) = d.incident_id else {
            return Ok(());
        };
        let mut tx = self.store.begin().await?;
        if let Some(inc) = tx.incident(incident).await? {
            let mut reply = NewDelivery::to_channel(
                &inc.opened_platform,
                &inc.opened_channel,
                Style::Reply,
                format!(
                    "{}: could not open its thread in {} {}: {}",
                    inc.id, d.platform, d.channel, reason
                ),
            );
            reply.incident_id = Some(incident);
            tx.enqueue(&reply, self.clock.now()).await?;
            tx.commit().await?;
            self.wake.notify(&inc.opened_platform);
        }
        Ok(())
    }
}

/// What one pass over a platform's outbox has learned and still holds.
#[derive(Default)]
struct Pass {
    /// Channels whose next row must wait (retry pending, thread root not sent).
    blocked: HashSet<String>,
    /// The earliest retry among the blocked channels.
    next: Option<DateTime<Utc>>,
    progressed: bool,
    /// Sends the platform accepted, not yet marked sent.
    marks: Vec<(i64, String)>,
    /// Plain sends waiting to go out together.
    batch: Vec<(Delivery, Outbound)>,
    /// The adapter connected again just before this pass.
    reconnected: bool,
}

impl Pass {
    fn block(&mut self, channel: &str, until: DateTime<Utc>) {
        self.blocked.insert(channel.to_string());
        self.next = Some(self.next.map_or(until, |n| n.min(until)));
    }
}

enum Prepared {
    Wait,
    Done,
    Send(Box<Outbound>),
}

enum Wait {
    Now,
    Until(DateTime<Utc>),
}

/// Where a pass takes its rows from.
enum Source {
    Outbox,
    Handed(Vec<Delivery>),
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::chat::{InboundSink, PlatformKind};

    /// Records what it is asked to send, as `channel: text`.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    #[async_trait]
    impl ChatAdapter for Recorder {
        fn name(&self) -> &str {
            "rec"
        }
        fn kind(&self) -> PlatformKind {
            PlatformKind::Console
        }
        async fn run(self: Arc<Self>, _inbound: InboundSink) -> anyhow::Result<()> {
            Ok(())
        }
        async fn send(&self, msg: &Outbound) -> Result<Sent, SendError> {
            let mut sent = self.0.lock().unwrap_or_else(|e| e.into_inner());
            sent.push(format!("{}: {}", msg.channel, msg.text));
            Ok(Sent {
                remote_id: sent.len().to_string(),
                thread: None,
            })
        }
    }

    #[tokio::test]
    async fn normal_rows_go_before_queued_bulk_ones_and_bulk_never_overtakes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/flare.db", dir.path().display());
        let store = crate::store::open(&url, 1).await.expect("store");
        let now = Utc::now();
        let row = |channel: &str, text: &str, bulk: bool| NewDelivery {
            bulk,
            ..NewDelivery::to_channel("rec", channel, Style::Reply, text.into())
        };
        let mut tx = store.begin().await.expect("begin");
        let rows = [
            row("#a", "help", true),
            row("#a", "show", true),
            row("#a", "INC-2 opened", false),
            row("#a", "INC-2 acknowledged", false),
            row("#b", "list", true),
            row("#c", "INC-1 update (waiting on a retry)", false),
            row("#c", "sla", true),
        ];
        let mut ids = Vec::new();
        for r in &rows {
            ids.push(tx.enqueue(r, now).await.expect("enqueue"));
        }
        tx.commit().await.expect("commit");
        store
            .mark_retry(ids[5], "down", now + chrono::Duration::hours(1))
            .await
            .expect("retry");

        let adapter = Arc::new(Recorder::default());
        let policy = RetryPolicy {
            max_attempts: 5,
            initial: Duration::from_secs(1),
            max: Duration::from_secs(2),
        };
        let worker = Worker::new(
            store.clone(),
            Arc::new(crate::clock::SystemClock),
            adapter.clone(),
            Arc::new(Wake::new(["rec"])),
            policy,
            Arc::default(),
        );
        let mut taken = 0;
        worker
            .drain("rec", Source::Outbox, false, &mut taken)
            .await
            .expect("drain");
        let sent = adapter.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let of = |c: &str| -> Vec<String> {
            sent.iter().filter(|s| s.starts_with(c)).cloned().collect()
        };
        assert_eq!(
            of("#a"),
            [
                "#a: INC-2 opened",
                "#a: INC-2 acknowledged",
                "#a: help",
                "#a: show"
            ]
        );
        assert_eq!(of("#b"), ["#b: list"]);
        assert!(of("#c").is_empty(), "bulk overtook a waiting row: {sent:?}");
    }
}
