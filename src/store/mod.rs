//! Persistence: one repository trait, two sqlx backends (SQLite by default, PostgreSQL for
//! teams that run several replicas), each with its own migrations.
//!
//! The engine works inside a [`Tx`]: everything one inbound event changes (incident, timeline,
//! outbox rows, timers) commits or rolls back together.

mod dead_letter;
mod decode;
mod dialect;
mod migrations;
mod pool;
mod postgres;
mod queries;
mod sqlite;
mod tx;
mod values;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::incident::{Incident, Severity, TimelineEvent};
use crate::domain::platform::Style;

pub use dead_letter::{DeadLetter, DeadLetterRow};

// The sqlx error is printed in the message and deliberately not a `source`: sqlx's own
// messages already include their cause (`error communicating with database: {io error}`), so
// a `{:#}` chain would print each cause twice.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(sqlx::migrate::MigrateError),
    #[error("the incident changed concurrently; try again")]
    Conflict,
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Config(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Db(e)
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(e)
    }
}

impl StoreError {
    /// Whether trying the same work again may succeed: the connection, the pool, I/O, a
    /// serialization failure, a deadlock, a busy or locked database, a concurrent change.
    /// Not for errors in the data itself (PostgreSQL SQLSTATE classes 22, 23, 42; SQLite
    /// constraint, datatype, range or size errors), nor for corrupt rows or configuration:
    /// those fail the same way every time.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Conflict => true,
            StoreError::Db(e) => retryable_sqlx(e),
            StoreError::Migrate(_) | StoreError::Corrupt(_) | StoreError::Config(_) => false,
        }
    }
}

fn retryable_sqlx(e: &sqlx::Error) -> bool {
    use sqlx::Error as E;
    match e {
        E::Io(_) | E::Tls(_) | E::Protocol(_) | E::PoolTimedOut | E::WorkerCrashed => true,
        E::Database(db) => retryable_code(db.code().as_deref(), db.message()),
        _ => false,
    }
}

/// `code` is PostgreSQL's SQLSTATE (always five characters) or SQLite's extended result
/// code (a number below 10,000).
fn retryable_code(code: Option<&str>, message: &str) -> bool {
    match code {
        Some(c) if c.len() == 5 => pg_retryable(c),
        // The primary result code is the low byte of an extended one.
        Some(c) => c.parse::<i64>().is_ok_and(|n| {
            matches!(
                n & 0xff,
                SQLITE_BUSY | SQLITE_LOCKED | SQLITE_IOERR | SQLITE_PROTOCOL
            )
        }),
        None => message.contains("database is locked"),
    }
}

/// PostgreSQL: by SQLSTATE class. 08 connection exception, 40 transaction rollback
/// (serialization failure, deadlock), 53 insufficient resources, 57 operator intervention
/// (server shutting down), 58 system error (I/O); 55P03 lock not available.
fn pg_retryable(sqlstate: &str) -> bool {
    matches!(sqlstate.get(..2), Some("08" | "40" | "53" | "57" | "58")) || sqlstate == "55P03"
}

const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;
const SQLITE_IOERR: i64 = 10;
const SQLITE_PROTOCOL: i64 = 15;

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct NewIncident {
    pub title: String,
    pub severity: Severity,
    pub opened_by: String,
    pub opened_platform: String,
    pub opened_channel: String,
    pub started_at: DateTime<Utc>,
    pub sla_class: String,
    pub sla_window_secs: i64,
    pub ack_deadline: DateTime<Utc>,
    /// On the public status page from the start (`[status_page] publish`).
    pub published: bool,
}

/// An inbound message as recorded (the source side of the message map).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    pub platform: String,
    pub channel: String,
    pub message_id: String,
    pub thread: Option<String>,
    pub incident_id: Option<i64>,
    pub author_id: String,
    pub author_display: String,
    pub text: String,
    pub sent_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
}

/// An inbound message by its platform's id: the unique key of the message map.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageKey {
    pub platform: String,
    pub channel: String,
    pub message_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRow {
    pub id: i64,
    pub record: MessageRecord,
}

/// An incident's thread on one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadRow {
    pub incident_id: i64,
    pub platform: String,
    pub channel: String,
    pub root_delivery_id: Option<i64>,
    /// The root's id on the platform, once the root was sent.
    pub thread_ref: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Sent,
    Failed,
    /// Not sent: replaced by a summary line, the platform being too far behind (the message
    /// itself is recorded and in the timeline).
    Summarised,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Summarised => "summarised",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "pending" => Ok(DeliveryStatus::Pending),
            "sent" => Ok(DeliveryStatus::Sent),
            "failed" => Ok(DeliveryStatus::Failed),
            "summarised" => Ok(DeliveryStatus::Summarised),
            other => Err(StoreError::Corrupt(format!("delivery status `{other}`"))),
        }
    }
}

/// One outbox row to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub platform: String,
    pub channel: String,
    pub incident_id: Option<i64>,
    pub style: Style,
    /// Post in the incident's thread on this channel (resolved when sending).
    pub in_thread: bool,
    /// Or post in this explicit thread (a reply to a command given in a thread).
    pub thread_ref: Option<String>,
    pub author: Option<String>,
    pub text: String,
    pub mentions: Vec<String>,
    pub source_message: Option<i64>,
    /// The source message by its key, for a copy queued in the transaction that records it
    /// without waiting for its row id (`record_new_message`): the row id is looked up by
    /// the insert itself.
    pub source_key: Option<MessageKey>,
    pub edit_of: Option<i64>,
    pub delete_of: Option<i64>,
    /// Informational output (help, show, list, ...): sent after what is due of normal
    /// priority in its channel, never before it.
    pub bulk: bool,
    /// Who asked, for a reply (their id on the platform): a platform may answer privately.
    pub requester: Option<String>,
}

impl NewDelivery {
    /// A plain message to a channel.
    pub fn to_channel(platform: &str, channel: &str, style: Style, text: String) -> Self {
        NewDelivery {
            platform: platform.to_string(),
            channel: channel.to_string(),
            incident_id: None,
            style,
            in_thread: false,
            thread_ref: None,
            author: None,
            text,
            mentions: Vec::new(),
            source_message: None,
            source_key: None,
            edit_of: None,
            delete_of: None,
            bulk: false,
            requester: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub new: NewDelivery,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub remote_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerState {
    Pending,
    Fired,
    Cancelled,
}

impl TimerState {
    pub fn as_str(self) -> &'static str {
        match self {
            TimerState::Pending => "pending",
            TimerState::Fired => "fired",
            TimerState::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "pending" => Ok(TimerState::Pending),
            "fired" => Ok(TimerState::Fired),
            "cancelled" => Ok(TimerState::Cancelled),
            other => Err(StoreError::Corrupt(format!("timer state `{other}`"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTimer {
    pub incident_id: Option<i64>,
    pub kind: String,
    pub due_at: DateTime<Utc>,
    pub payload: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    pub id: i64,
    pub new: NewTimer,
    pub state: TimerState,
    pub fired_at: Option<DateTime<Utc>>,
    pub late_ms: Option<i64>,
}

/// Counts for `show` and the logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub pending: i64,
    pub sent: i64,
    pub failed: i64,
    pub summarised: i64,
}

/// One database transaction. Dropping it without `commit` rolls back.
///
/// Writes that return nothing (timeline, outbox rows, timers, incident updates) may be
/// deferred to the next read or to `commit`, so their errors (and an incident's `Conflict`)
/// can surface there.
#[async_trait]
pub trait Tx: Send {
    async fn commit(self: Box<Self>) -> Result<()>;
    /// Commits; returns the ids of the outbox rows this transaction wrote (`enqueue`,
    /// `enqueue_many`), in the order they were written, so they can be handed to the
    /// delivery workers without reading them back.
    async fn commit_outbox(self: Box<Self>) -> Result<Vec<i64>>;

    /// The incident, locked for update where the backend has row locks.
    async fn incident(&mut self, id: i64) -> Result<Option<Incident>>;
    async fn insert_incident(&mut self, new: &NewIncident) -> Result<Incident>;
    /// Saves changes; fails with `Conflict` when `inc.version` is stale. Bumps the version.
    async fn save_incident(&mut self, inc: &mut Incident) -> Result<()>;
    async fn open_incidents(&mut self) -> Result<Vec<Incident>>;
    /// Incidents resolved at or after `since`, latest first, at most `limit` of them; and
    /// how many there are in all.
    async fn resolved_incidents(
        &mut self,
        since: DateTime<Utc>,
        limit: i64,
    ) -> Result<(Vec<Incident>, i64)>;
    /// The incidents on the public status page, newest first, at most `limit`.
    async fn published_incidents(&mut self, limit: i64) -> Result<Vec<Incident>>;
    async fn incident_count(&mut self) -> Result<i64>;

    async fn add_timeline(&mut self, ev: &TimelineEvent) -> Result<()>;
    async fn timeline(&mut self, incident_id: i64) -> Result<Vec<TimelineEvent>>;
    async fn has_timeline(&mut self, incident_id: i64, kind: &str) -> Result<bool>;
    /// Whether the incident's timeline has an entry of `kind` by `actor`.
    async fn has_timeline_by(&mut self, incident_id: i64, kind: &str, actor: &str) -> Result<bool>;

    /// Records an inbound message; `None` when it was recorded before (a redelivery).
    async fn record_message(&mut self, m: &MessageRecord) -> Result<Option<i64>>;
    /// Records several inbound messages at once; for each, its id, or `None` when it was
    /// recorded before (or earlier in `ms`).
    async fn record_messages(&mut self, ms: &[MessageRecord]) -> Result<Vec<Option<i64>>>;
    /// Removes messages recorded by `record_messages` whose events were then not handled.
    async fn forget_messages(&mut self, ids: &[i64]) -> Result<()>;
    /// Records a message that should be new, without waiting for its id (the write goes
    /// with the next statement that runs, the commit at the latest). If it was recorded
    /// before, the transaction fails with `Conflict`.
    async fn record_new_message(&mut self, m: &MessageRecord) -> Result<()>;
    /// Fails the transaction with `Conflict` unless incident `id` is still at `version`
    /// (checked, and locked where the backend has row locks, without waiting for the
    /// answer).
    async fn expect_incident_version(&mut self, id: i64, version: i64) -> Result<()>;
    /// `record_message`, and in the same round trip where the backend can, the incident
    /// `incident` (locked for update) and the threads of `threads_of`.
    async fn record_message_reading(
        &mut self,
        m: &MessageRecord,
        incident: Option<i64>,
        threads_of: Option<i64>,
    ) -> Result<(Option<i64>, Option<Incident>, Option<Vec<ThreadRow>>)>;
    async fn find_message(
        &mut self,
        platform: &str,
        channel: &str,
        message_id: &str,
    ) -> Result<Option<MessageRow>>;
    async fn set_message_incident(&mut self, id: i64, incident_id: i64) -> Result<()>;

    /// The incident a platform thread (or a message replied to) belongs to.
    async fn incident_for_thread(
        &mut self,
        platform: &str,
        channel: &str,
        thread_ref: &str,
    ) -> Result<Option<i64>>;
    async fn threads(&mut self, incident_id: i64) -> Result<Vec<ThreadRow>>;
    /// True while a thread root on this channel is queued but not sent (its id is unknown).
    async fn thread_root_in_flight(&mut self, platform: &str, channel: &str) -> Result<bool>;
    async fn insert_thread(&mut self, t: &ThreadRow) -> Result<()>;

    async fn enqueue(&mut self, d: &NewDelivery, not_before: DateTime<Utc>) -> Result<i64>;
    /// Inserts several outbox rows in order (ids ascending in slice order), in few statements.
    async fn enqueue_many(&mut self, ds: &[NewDelivery], not_before: DateTime<Utc>) -> Result<()>;
    /// Mirrored copies made from an inbound message.
    async fn copies_of(&mut self, source_message: i64) -> Result<Vec<Delivery>>;
    async fn failed_deliveries(&mut self, incident_id: i64) -> Result<Vec<Delivery>>;
    /// Marks pending deliveries `summarised`: a summary line is sent instead of them.
    async fn summarise_deliveries(&mut self, ids: &[i64]) -> Result<()>;
    async fn delivery_counts(&mut self, incident_id: i64) -> Result<DeliveryCounts>;

    async fn add_timer(&mut self, t: &NewTimer) -> Result<i64>;
    /// Adds several timers in one statement.
    async fn add_timers(&mut self, timers: &[NewTimer]) -> Result<()>;
    /// Moves the incident's pending timers of `kind` to `due_at`; returns how many moved.
    async fn move_timers(
        &mut self,
        incident_id: i64,
        kind: &str,
        due_at: DateTime<Utc>,
    ) -> Result<u64>;
    /// Cancels the incident's pending timers whose kind is in `kinds`.
    async fn cancel_timers(&mut self, incident_id: i64, kinds: &[&str]) -> Result<()>;
    /// Moves the incident's pending timer of `kind` to `due_at`, or adds one when none is
    /// pending.
    async fn reset_timer(
        &mut self,
        incident_id: i64,
        kind: &str,
        due_at: DateTime<Utc>,
    ) -> Result<()>;
    async fn pending_timers(&mut self, incident_id: Option<i64>) -> Result<Vec<Timer>>;
    /// Locks (PostgreSQL: `FOR UPDATE SKIP LOCKED`) and returns pending timers due by `now`.
    async fn claim_due_timers(&mut self, now: DateTime<Utc>, limit: i64) -> Result<Vec<Timer>>;
    async fn mark_timer_fired(&mut self, id: i64, at: DateTime<Utc>, late_ms: i64) -> Result<()>;

    /// Adds a timer without an incident unless one of that kind and payload is pending
    /// (recurring timers: rotation handoffs, announcements). True when it was added.
    async fn ensure_timer(&mut self, t: &NewTimer) -> Result<bool>;
    /// Fired timers (of one incident, or all), oldest first.
    async fn fired_timers(&mut self, incident_id: Option<i64>) -> Result<Vec<Timer>>;
    async fn add_oncall_override(&mut self, o: &OncallOverride) -> Result<i64>;
    /// Overrides of a rotation that are still in force at or after `from`, oldest first.
    async fn oncall_overrides(
        &mut self,
        rotation: &str,
        from: DateTime<Utc>,
    ) -> Result<Vec<OncallOverride>>;
}

/// A stored on-call override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OncallOverride {
    pub rotation: String,
    pub person: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// The repository: transactions for the engine, plus what the delivery worker and the
/// scheduler need outside them. On SQLite a transaction holds the store's one connection: the
/// other methods wait for its end.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;
    async fn begin(&self) -> Result<Box<dyn Tx>>;

    /// Pending deliveries of a platform in outbox order (due or not: the worker keeps order).
    async fn pending_deliveries(&self, platform: &str, limit: i64) -> Result<Vec<Delivery>>;
    async fn delivery(&self, id: i64) -> Result<Option<Delivery>>;
    async fn thread(
        &self,
        incident_id: i64,
        platform: &str,
        channel: &str,
    ) -> Result<Option<ThreadRow>>;
    /// Marks a delivery sent; a thread root also records its thread on the channel.
    async fn mark_sent(
        &self,
        id: i64,
        remote_id: &str,
        thread_ref: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Marks several plain deliveries (not thread roots) sent, with their remote ids.
    async fn mark_sent_many(&self, sent: &[(i64, String)], at: DateTime<Utc>) -> Result<()>;
    async fn mark_retry(&self, id: i64, error: &str, next_at: DateTime<Utc>) -> Result<()>;
    async fn mark_failed(&self, id: i64, error: &str) -> Result<()>;
    /// When the earliest pending timer is due (the scheduler sleeps until then).
    async fn next_timer_due(&self) -> Result<Option<DateTime<Utc>>>;
    /// Pending timers due by `now` (at start: the ones that fell due while Flare was down).
    async fn overdue_timers(&self, now: DateTime<Utc>) -> Result<i64>;
    /// Keeps an event that could not be recorded, with `reply` (telling its sender) queued
    /// in the same transaction.
    async fn add_dead_letter(&self, d: &DeadLetter, reply: Option<&NewDelivery>) -> Result<()>;
    /// Every dead letter, oldest first.
    async fn dead_letters(&self) -> Result<Vec<DeadLetterRow>>;
    /// A cheap query: the database answers (`/readyz`).
    async fn ping(&self) -> Result<()>;
    /// The figures `/metrics` reads at scrape time.
    async fn gauges(&self) -> Result<Gauges>;
    /// Closes the connections; on SQLite first copies the WAL into the database file.
    async fn close(&self);
}

/// Counts read for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Open incidents by severity (`SEV1`); severities without one are absent.
    pub open_by_severity: Vec<(String, i64)>,
    /// Outbox rows by platform and status (`pending`, `sent`, `failed`).
    pub deliveries: Vec<(String, String, i64)>,
    /// When the oldest pending row of each platform entered the outbox.
    pub oldest_pending: Vec<(String, DateTime<Utc>)>,
}

pub type SharedStore = Arc<dyn Store>;

/// Writes a consistent copy of the database at `url` into the new file `dest`, while Flare
/// may be running (SQLite's `VACUUM INTO`). Refuses to overwrite a file. PostgreSQL has its
/// own tools (pg_dump), so this is an error there.
pub async fn backup(url: &str, dest: &std::path::Path) -> Result<()> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Err(StoreError::Config(
            "flare backup copies SQLite databases only; back up PostgreSQL with pg_dump \
             (e.g. `pg_dump --format=custom --file=flare.dump <database>`, restored with \
             pg_restore)"
                .into(),
        ));
    }
    sqlite::backup(url, dest).await
}

/// Opens the database named by `url` (creating a SQLite file and its directory when missing)
/// and applies the migrations. `max_connections` sizes the PostgreSQL pool; SQLite always has
/// one connection, so a task holding a transaction must not call the store outside it.
pub async fn open(url: &str, max_connections: u32) -> Result<SharedStore> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::connect(url, max_connections).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::connect(url).await?))
    } else {
        Err(StoreError::Config(format!(
            "database URL must start with sqlite: or postgres:// (got `{}`)",
            crate::config::redact_url(url)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_data_errors_are_not_retried_and_transient_ones_are() {
        // Class 22 data exception (22021: the NUL byte), 23 integrity constraint, 42 syntax
        // or access rule.
        for code in [
            "22021", "22P05", "22001", "23505", "23503", "23502", "23514", "42703", "42P01",
            "42501",
        ] {
            assert!(!retryable_code(Some(code), ""), "{code}");
        }
        // 40001 serialization failure, 40P01 deadlock, 08xxx connection, 53300 too many
        // connections, 57P01 admin shutdown, 58030 I/O error, 55P03 lock not available.
        for code in [
            "40001", "40P01", "08006", "08001", "53300", "57P01", "58030", "55P03",
        ] {
            assert!(retryable_code(Some(code), ""), "{code}");
        }
    }

    #[test]
    fn sqlite_data_errors_are_not_retried_and_busy_ones_are() {
        // CONSTRAINT and its extended codes (UNIQUE 2067, FOREIGN KEY 787, NOT NULL 1299,
        // TRIGGER 1811), MISMATCH, TOOBIG, RANGE, the generic ERROR.
        for code in ["19", "2067", "787", "1299", "1811", "20", "18", "25", "1"] {
            assert!(!retryable_code(Some(code), ""), "{code}");
        }
        // BUSY, BUSY_SNAPSHOT, LOCKED, LOCKED_SHAREDCACHE, IOERR, IOERR_SHORT_READ, PROTOCOL.
        for code in ["5", "517", "6", "262", "10", "522", "15"] {
            assert!(retryable_code(Some(code), ""), "{code}");
        }
        assert!(retryable_code(None, "database is locked"));
        assert!(!retryable_code(None, "something else"));
    }

    #[test]
    fn store_errors_by_kind() {
        assert!(StoreError::Conflict.is_retryable());
        assert!(StoreError::Db(sqlx::Error::PoolTimedOut).is_retryable());
        assert!(StoreError::Db(sqlx::Error::WorkerCrashed).is_retryable());
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(StoreError::Db(sqlx::Error::Io(io)).is_retryable());
        assert!(!StoreError::Db(sqlx::Error::RowNotFound).is_retryable());
        assert!(!StoreError::Db(sqlx::Error::PoolClosed).is_retryable());
        assert!(!StoreError::Corrupt("x".into()).is_retryable());
        assert!(!StoreError::Config("x".into()).is_retryable());
    }

    /// Each cause once: `{:#}` (anyhow's chain) does not repeat the sqlx error.
    #[test]
    fn a_database_error_prints_its_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        let e = anyhow::Error::new(StoreError::from(sqlx::Error::Io(io))).context("cannot open");
        let text = format!("{e:#}");
        assert_eq!(text.matches("Connection refused").count(), 1, "{text}");
    }
}
