//! The SQL text both backends share (`$n` placeholders work in SQLite and PostgreSQL): the
//! column lists, the statements, and the builders of statements whose length varies.

use super::values::Val;
use chrono::{DateTime, Utc};

use super::{MessageRecord, NewDelivery, NewIncident, ThreadRow};
use crate::domain::incident::{Incident, TimelineEvent};

pub(crate) const INCIDENT_COLUMNS: &str = "id, title, severity, status, commander, impacted_apps, \
    business_impact, opened_by, opened_platform, opened_channel, started_at, sla_class, \
    sla_window_secs, ack_deadline, acknowledged_at, acknowledged_by, acknowledged_where, \
    resolved_at, resolution, last_update_at, published, version";

pub(crate) const DELIVERY_COLUMNS: &str = "id, platform, channel, incident_id, style, in_thread, \
    thread_ref, author, text, mentions, source_message, edit_of, delete_of, status, attempts, \
    next_attempt_at, last_error, remote_id, created_at, sent_at, bulk, requester";

pub(crate) const TIMER_COLUMNS: &str =
    "id, incident_id, kind, due_at, payload, state, fired_at, late_ms";

pub(crate) const MESSAGE_COLUMNS: &str = "id, platform, channel, message_id, thread, incident_id, \
    author_id, author_display, text, sent_at, received_at";

pub(crate) fn join_list(items: &[String]) -> String {
    items.join("\n")
}

/// The largest power of two that is at most `left` and `max`: chunking a batch this way keeps
/// the number of distinct statement texts (and prepared statements) small.
pub(crate) fn chunk_len(left: usize, max: usize) -> usize {
    let n = left.min(max);
    1 << (usize::BITS - 1 - n.leading_zeros())
}

/// `rest` in order, in chunks of at most `max` rows, each a power of two long.
pub(crate) fn pow2_chunks<T>(mut rest: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (chunk, tail) = rest.split_at(chunk_len(rest.len(), max));
        rest = tail;
        Some(chunk)
    })
}

/// `($first, ..., $(first+cols-1), tail), (...)` for `rows` rows of `cols` bound columns each,
/// numbering placeholders from `first`.
pub(crate) fn values_rows(rows: usize, cols: usize, first: usize, tail: &str) -> String {
    let mut s = String::with_capacity(rows * (cols * 5 + tail.len() + 4));
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            s.push('$');
            s.push_str(&(first + r * cols + c).to_string());
        }
        if !tail.is_empty() {
            s.push_str(", ");
            s.push_str(tail);
        }
        s.push(')');
    }
    s
}

/// Records a message unless its key was recorded before.
macro_rules! insert_message {
    () => {
        "INSERT INTO messages (platform, channel, message_id, thread, incident_id, author_id, \
         author_display, text, sent_at, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (platform, channel, message_id) DO NOTHING"
    };
}

pub(crate) const RECORD_MESSAGE: &str = concat!(insert_message!(), " RETURNING id");

/// For a message that should be new: nothing waits for its id.
pub(crate) const RECORD_NEW_MESSAGE: &str = insert_message!();

/// The outbox columns an insert names, in order; `push_delivery_row` writes their values.
pub(crate) const INSERT_DELIVERY_COLUMNS: &str = "platform, channel, incident_id, style, in_thread, thread_ref, \
    author, text, mentions, source_message, edit_of, delete_of, bulk, requester, status, \
    attempts, next_attempt_at, created_at";

/// Where `source_message` is among `delivery_args`.
pub(crate) const SOURCE_MESSAGE_ARG: usize = 9;

/// Appends one outbox row's `VALUES` tuple to `sql` and its values to `args`, numbering its
/// placeholders after those already in `args`; `tail` ends the tuple (status, attempts and
/// times). A copy that names its source by key looks the source's row id up in the insert.
pub(crate) fn push_delivery_row(
    sql: &mut String,
    args: &mut Vec<Val>,
    d: &NewDelivery,
    tail: &str,
) {
    use std::fmt::Write;
    let next = |sql: &mut String, args: &mut Vec<Val>, v: Val| {
        args.push(v);
        let _ = write!(sql, "${}", args.len());
    };
    sql.push('(');
    for (i, v) in delivery_args(d).into_iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        match (&d.source_key, d.source_message) {
            (Some(k), None) if i == SOURCE_MESSAGE_ARG => {
                sql.push_str("(SELECT id FROM messages WHERE platform = ");
                next(sql, args, (&k.platform).into());
                sql.push_str(" AND channel = ");
                next(sql, args, (&k.channel).into());
                sql.push_str(" AND message_id = ");
                next(sql, args, (&k.message_id).into());
                sql.push(')');
            }
            _ => next(sql, args, v),
        }
    }
    sql.push_str(", ");
    sql.push_str(tail);
    sql.push(')');
}

pub(crate) const THREADS_OF: &str = "SELECT incident_id, platform, channel, root_delivery_id, thread_ref \
    FROM threads WHERE incident_id = $1 ORDER BY platform, channel";

/// The 14 bound columns of an outbox row, in `INSERT INTO deliveries` order.
pub(crate) fn delivery_args(d: &NewDelivery) -> Vec<Val> {
    vec![
        (&d.platform).into(),
        (&d.channel).into(),
        d.incident_id.into(),
        d.style.as_str().into(),
        d.in_thread.into(),
        (&d.thread_ref).into(),
        (&d.author).into(),
        (&d.text).into(),
        join_list(&d.mentions).into(),
        d.source_message.into(),
        d.edit_of.into(),
        d.delete_of.into(),
        d.bulk.into(),
        (&d.requester).into(),
    ]
}

pub(crate) fn message_args(m: &MessageRecord) -> Vec<Val> {
    vec![
        (&m.platform).into(),
        (&m.channel).into(),
        (&m.message_id).into(),
        (&m.thread).into(),
        m.incident_id.into(),
        (&m.author_id).into(),
        (&m.author_display).into(),
        (&m.text).into(),
        m.sent_at.into(),
        m.received_at.into(),
    ]
}

// The statements with a fixed text, in the order of the `Tx` and `Store` methods that run them.

/// Saves an incident unless its version moved on (the optimistic check).
pub(crate) const UPDATE_INCIDENT: &str = "UPDATE incidents SET title = $1, severity = $2, status = $3, commander = $4, \
    impacted_apps = $5, business_impact = $6, acknowledged_at = $7, \
    acknowledged_by = $8, acknowledged_where = $9, resolved_at = $10, \
    resolution = $11, last_update_at = $12, published = $15, version = version + 1 \
    WHERE id = $13 AND version = $14";

pub(crate) const INCIDENT_COUNT: &str = "SELECT COUNT(*) AS n FROM incidents";

pub(crate) const ADD_TIMELINE: &str = "INSERT INTO timeline (incident_id, at, kind, actor, platform, channel, \
    message_id, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

pub(crate) const TIMELINE_OF: &str = "SELECT incident_id, at, kind, actor, platform, channel, message_id, detail \
    FROM timeline WHERE incident_id = $1 ORDER BY id";

pub(crate) const HAS_TIMELINE: &str =
    "SELECT id FROM timeline WHERE incident_id = $1 AND kind = $2 LIMIT 1";

pub(crate) const HAS_TIMELINE_BY: &str =
    "SELECT id FROM timeline WHERE incident_id = $1 AND kind = $2 AND actor = $3 LIMIT 1";

pub(crate) const RESOLVED_COUNT: &str =
    "SELECT COUNT(*) AS n FROM incidents WHERE status = 'resolved' AND resolved_at >= $1";

pub(crate) const SET_MESSAGE_INCIDENT: &str = "UPDATE messages SET incident_id = $1 WHERE id = $2";

/// The incident of a thread: the thread root itself, a mirrored copy replied to, or an
/// inbound message replied to.
pub(crate) const INCIDENT_FOR_THREAD: &str = "SELECT incident_id FROM threads \
    WHERE platform = $1 AND thread_ref = $3 AND (channel = $2 OR thread_ref = $2) \
    UNION ALL \
    SELECT incident_id FROM deliveries \
    WHERE platform = $1 AND remote_id = $3 AND incident_id IS NOT NULL \
    UNION ALL \
    SELECT incident_id FROM messages \
    WHERE platform = $1 AND channel = $2 AND message_id = $3 \
    AND incident_id IS NOT NULL \
    LIMIT 1";

/// A thread root on a channel that is queued but not sent.
pub(crate) const THREAD_ROOT_IN_FLIGHT: &str = "SELECT t.incident_id FROM threads t JOIN deliveries d ON d.id = t.root_delivery_id \
    WHERE t.platform = $1 AND t.channel = $2 AND t.thread_ref IS NULL \
    AND d.status = 'pending' LIMIT 1";

pub(crate) const INSERT_THREAD: &str = "INSERT INTO threads (incident_id, platform, channel, root_delivery_id, \
    thread_ref) VALUES ($1, $2, $3, $4, $5) \
    ON CONFLICT (incident_id, platform, channel) DO NOTHING";

pub(crate) const DELIVERY_COUNTS: &str = "SELECT status, COUNT(*) AS n FROM deliveries WHERE incident_id = $1 \
    GROUP BY status";

pub(crate) const ADD_TIMER: &str = "INSERT INTO timers (incident_id, kind, due_at, payload, state, created_at) \
    VALUES ($1, $2, $3, $4, 'pending', $3) RETURNING id";

/// `reset_timer`: moves the pending timer of a kind ...
pub(crate) const MOVE_PENDING_TIMER: &str = "UPDATE timers SET due_at = $3 \
    WHERE incident_id = $1 AND kind = $2 AND state = 'pending'";

/// ... or adds one when none is pending.
pub(crate) const ADD_TIMER_UNLESS_PENDING: &str = "INSERT INTO timers (incident_id, kind, due_at, payload, state, created_at) \
    SELECT $1, $2, $3, '', 'pending', $3 WHERE NOT EXISTS (SELECT 1 FROM timers \
    WHERE incident_id = $1 AND kind = $2 AND state = 'pending')";

pub(crate) const MOVE_TIMERS: &str = "UPDATE timers SET due_at = $1 \
    WHERE incident_id = $2 AND kind = $3 AND state = 'pending'";

pub(crate) const MARK_TIMER_FIRED: &str = "UPDATE timers SET state = 'fired', fired_at = $1, late_ms = $2 \
    WHERE id = $3 AND state = 'pending'";

/// A recurring timer without an incident, unless one of its kind and payload is pending.
pub(crate) const ENSURE_TIMER: &str = "INSERT INTO timers (incident_id, kind, due_at, payload, state, created_at) \
    VALUES (NULL, $1, $2, $3, 'pending', $2) ON CONFLICT DO NOTHING";

pub(crate) const ADD_ONCALL_OVERRIDE: &str = "INSERT INTO oncall_overrides (rotation, person, starts_at, ends_at, \
    created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";

pub(crate) const ONCALL_OVERRIDES: &str = "SELECT rotation, person, starts_at, ends_at, created_by, created_at \
    FROM oncall_overrides WHERE rotation = $1 AND ends_at > $2 ORDER BY id";

pub(crate) const THREAD: &str = "SELECT incident_id, platform, channel, root_delivery_id, thread_ref \
    FROM threads WHERE incident_id = $1 AND platform = $2 AND channel = $3";

/// A thread root was sent: its platform id is the thread's.
pub(crate) const SET_THREAD_REF: &str =
    "UPDATE threads SET thread_ref = $1 WHERE root_delivery_id = $2";

pub(crate) const MARK_RETRY: &str = "UPDATE deliveries SET attempts = attempts + 1, last_error = $1, \
    next_attempt_at = $2 WHERE id = $3";

pub(crate) const MARK_FAILED: &str = "UPDATE deliveries SET status = 'failed', attempts = attempts + 1, \
    last_error = $1 WHERE id = $2";

pub(crate) const NEXT_TIMER_DUE: &str =
    "SELECT due_at FROM timers WHERE state = 'pending' ORDER BY due_at LIMIT 1";

pub(crate) const OVERDUE_TIMERS: &str =
    "SELECT COUNT(*) AS n FROM timers WHERE state = 'pending' AND due_at <= $1";

/// A delivery was sent.
pub(crate) const MARK_SENT: &str = "UPDATE deliveries SET status = 'sent', remote_id = $1, sent_at = $2, \
    attempts = attempts + 1, last_error = NULL WHERE id = $3";

/// The read of an incident the transaction may change (locked where the backend can).
pub(crate) fn incident_for_update(lock: &str) -> String {
    format!(
        "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1{}",
        lock
    )
}

/// One `INSERT INTO deliveries ... RETURNING id` of `ds`, in order.
pub(crate) fn insert_deliveries(
    ds: &[NewDelivery],
    not_before: DateTime<Utc>,
) -> (String, Vec<Val>) {
    let mut q = format!("INSERT INTO deliveries ({INSERT_DELIVERY_COLUMNS}) VALUES ");
    let mut args: Vec<Val> = Vec::with_capacity(1 + 14 * ds.len());
    args.push(not_before.into());
    for (i, d) in ds.iter().enumerate() {
        if i > 0 {
            q.push_str(", ");
        }
        push_delivery_row(&mut q, &mut args, d, "'pending', 0, $1, $1");
    }
    q.push_str(" RETURNING id");
    (q, args)
}

/// The bound values of `insert_incident`.
pub(crate) fn new_incident_args(n: &NewIncident) -> Vec<Val> {
    vec![
        (&n.title).into(),
        n.severity.as_str().into(),
        (&n.opened_by).into(),
        (&n.opened_platform).into(),
        (&n.opened_channel).into(),
        n.started_at.into(),
        (&n.sla_class).into(),
        n.sla_window_secs.into(),
        n.ack_deadline.into(),
        n.published.into(),
    ]
}

/// The bound values of `UPDATE_INCIDENT`.
pub(crate) fn incident_update_args(i: &Incident) -> Vec<Val> {
    vec![
        (&i.title).into(),
        i.severity.as_str().into(),
        i.status.as_str().into(),
        (&i.commander).into(),
        join_list(&i.impacted_apps).into(),
        (&i.business_impact).into(),
        i.acknowledged_at.into(),
        (&i.acknowledged_by).into(),
        (&i.acknowledged_where).into(),
        i.resolved_at.into(),
        (&i.resolution).into(),
        i.last_update_at.into(),
        i.id.0.into(),
        i.version.into(),
        i.published.into(),
    ]
}

/// The bound values of `ADD_TIMELINE`.
pub(crate) fn timeline_args(ev: &TimelineEvent) -> Vec<Val> {
    vec![
        ev.incident.0.into(),
        ev.at.into(),
        (&ev.kind).into(),
        (&ev.actor).into(),
        (&ev.source.platform).into(),
        (&ev.source.channel).into(),
        (&ev.source.message_id).into(),
        (&ev.detail).into(),
    ]
}

/// The bound values of `INSERT_THREAD`.
pub(crate) fn thread_args(t: &ThreadRow) -> Vec<Val> {
    vec![
        t.incident_id.into(),
        (&t.platform).into(),
        (&t.channel).into(),
        t.root_delivery_id.into(),
        (&t.thread_ref).into(),
    ]
}

// Statements naming a column list.

pub(crate) fn insert_incident() -> String {
    format!(
        "INSERT INTO incidents (title, severity, status, opened_by, opened_platform, \
        opened_channel, started_at, sla_class, sla_window_secs, ack_deadline, \
        last_update_at, impacted_apps, published, version) \
        VALUES ($1, $2, 'investigating', $3, $4, $5, $6, $7, $8, $9, $6, '', $10, 0) \
        RETURNING {INCIDENT_COLUMNS}"
    )
}

pub(crate) fn select_open_incidents() -> String {
    format!(
        "SELECT {INCIDENT_COLUMNS} FROM incidents \
        WHERE status IN ('investigating', 'identified', 'monitoring') ORDER BY id"
    )
}

/// Resolved since `$1`, latest first, at most `$2`.
pub(crate) fn select_resolved_incidents() -> String {
    format!(
        "SELECT {INCIDENT_COLUMNS} FROM incidents \
        WHERE status = 'resolved' AND resolved_at >= $1 ORDER BY resolved_at DESC, id DESC LIMIT $2"
    )
}

pub(crate) fn select_published_incidents() -> String {
    format!(
        "SELECT {INCIDENT_COLUMNS} FROM incidents \
        WHERE published = TRUE ORDER BY id DESC LIMIT $1"
    )
}

pub(crate) fn select_message() -> String {
    format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages \
        WHERE platform = $1 AND channel = $2 AND message_id = $3"
    )
}

pub(crate) fn select_copies() -> String {
    format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries \
        WHERE source_message = $1 AND edit_of IS NULL AND delete_of IS NULL ORDER BY id"
    )
}

pub(crate) fn select_failed_deliveries() -> String {
    format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries \
        WHERE incident_id = $1 AND status = 'failed' ORDER BY id"
    )
}

pub(crate) fn select_pending_timers_of() -> String {
    format!(
        "SELECT {TIMER_COLUMNS} FROM timers WHERE incident_id = $1 \
        AND state = 'pending' ORDER BY due_at, id"
    )
}

pub(crate) fn select_pending_timers() -> String {
    format!(
        "SELECT {TIMER_COLUMNS} FROM timers WHERE state = 'pending' \
        ORDER BY due_at, id"
    )
}

pub(crate) fn select_fired_timers() -> String {
    format!(
        "SELECT {TIMER_COLUMNS} FROM timers WHERE state = 'fired' \
        AND ($1 IS NULL OR incident_id = $1) ORDER BY fired_at, id"
    )
}

/// What `/metrics` and `/readyz` read (`Store::ping`, `Store::gauges`).
pub(crate) const PING: &str = "SELECT 1 AS n";

pub(crate) const OPEN_BY_SEVERITY: &str = "SELECT severity, COUNT(*) AS n FROM incidents \
    WHERE status IN ('investigating', 'identified', 'monitoring') GROUP BY severity";

pub(crate) const DELIVERIES_BY_STATE: &str =
    "SELECT platform, status, COUNT(*) AS n FROM deliveries GROUP BY platform, status";

/// The oldest pending row of each platform (ids grow with time; plain columns decode alike on
/// both databases, an aggregate's would not).
pub(crate) const OLDEST_PENDING: &str = "SELECT platform, created_at FROM deliveries \
    WHERE id IN (SELECT MIN(id) FROM deliveries WHERE status = 'pending' GROUP BY platform)";
