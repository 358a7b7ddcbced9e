//! The SQL text both backends share (`$n` placeholders work in SQLite and PostgreSQL): the
//! column lists, the statements, and the builders of statements whose length varies.

use super::values::Val;
use super::{MessageRecord, NewDelivery};

pub(crate) const INCIDENT_COLUMNS: &str = "id, title, severity, status, commander, impacted_apps, \
    business_impact, opened_by, opened_platform, opened_channel, started_at, sla_class, \
    sla_window_secs, ack_deadline, acknowledged_at, acknowledged_by, acknowledged_where, \
    resolved_at, resolution, last_update_at, version";

pub(crate) const DELIVERY_COLUMNS: &str = "id, platform, channel, incident_id, style, in_thread, \
    thread_ref, author, text, mentions, source_message, edit_of, delete_of, status, attempts, \
    next_attempt_at, last_error, remote_id, created_at, sent_at";

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
    author, text, mentions, source_message, edit_of, delete_of, status, attempts, \
    next_attempt_at, created_at";

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

/// The 12 bound columns of an outbox row, in `INSERT INTO deliveries` order.
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
