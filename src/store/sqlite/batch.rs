//! SQLite write batching: deferred writes go to SQLite in one script with the next read or
//! the commit, with anonymous placeholders and conflict guards, and the answer is polled
//! for briefly rather than waited for.

use sqlx::sqlite::SqliteRow;

use super::Sqlite;
use crate::store::decode::Columns;
use crate::store::dialect::{Deferred, Dialect};
use crate::store::values::{Val, bind_all};
use crate::store::{Result, StoreError};

/// On SQLite, a statement that fails its script ("integer overflow", the one error `abs`
/// raises) unless the statement before it changed exactly one row.
const CONFLICT_GUARD: &str = "SELECT abs(-9223372036854775807 - 1) WHERE changes() <> 1";

/// Appends `sql` to `out` with every `$n` placeholder written as an anonymous `?`, and the
/// value each one stands for (`args[n - 1]`, NULL when there is none) to `out_args`, in the
/// order they appear.
///
/// Why: SQLite looks a numbered or named parameter up in a list, once when it parses the
/// statement and again (through sqlx's `sqlite3_bind_parameter_name`) for each value bound,
/// so a script with n of them costs O(n^2); a bulk insert of 256 rows with 12 columns spent
/// most of its time there (docs/benchmarks.md). Anonymous `?` are numbered as they are read.
/// Scripts also keep the same text whatever comes before them, so sqlx's statement cache
/// finds them again.
fn anonymous_placeholders(sql: &str, args: Vec<Val>, out: &mut String, out_args: &mut Vec<Val>) {
    let uses: Vec<(std::ops::Range<usize>, usize)> = placeholders(sql).collect();
    let mut args: Vec<Option<Val>> = args.into_iter().map(Some).collect();
    // Which use of each value is its last, so it can be moved there rather than cloned.
    let mut last_use = vec![0usize; args.len()];
    for (use_no, (_, n)) in uses.iter().enumerate() {
        if let Some(slot) = n.checked_sub(1).and_then(|k| last_use.get_mut(k)) {
            *slot = use_no + 1;
        }
    }
    out.reserve(sql.len());
    out_args.reserve(uses.len());
    let mut copied = 0usize;
    for (use_no, (span, n)) in uses.into_iter().enumerate() {
        out.push_str(&sql[copied..span.start]);
        out.push('?');
        copied = span.end;
        let value = match n.checked_sub(1) {
            Some(k) if k < args.len() && last_use[k] == use_no + 1 => args[k].take(),
            Some(k) if k < args.len() => args[k].clone(),
            _ => None,
        };
        // SQLite treats a parameter without a value as NULL.
        out_args.push(value.unwrap_or(Val::Int(None)));
    }
    out.push_str(&sql[copied..]);
}

/// Each `$n` in `sql`: where it stands and its number.
fn placeholders(sql: &str) -> impl Iterator<Item = (std::ops::Range<usize>, usize)> + '_ {
    let bytes = sql.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        // `str::find` of one ASCII byte scans a word at a time (memchr), where a byte loop
        // cost a tenth of a relayed message's instructions on the long insert statements.
        while let Some(at) = sql.get(i..)?.find('$').map(|k| i + k) {
            let digits = bytes[at + 1..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            i = at + 1 + digits;
            if digits > 0 {
                let n = bytes[at + 1..i].iter().fold(0usize, |n, d| {
                    n.saturating_mul(10).saturating_add((d - b'0') as usize)
                });
                return Some((at..i, n));
            }
        }
        None
    })
}

/// How long the runtime thread keeps polling for SQLite's answer before it parks.
const SPIN: std::time::Duration = std::time::Duration::from_micros(100);

/// The stream's next item; polls it for up to `SPIN` before waiting like any future.
///
/// Why: sqlx hands each statement's result and each row from SQLite's thread to ours one by
/// one. A parked runtime thread is woken for each (a write to its eventfd, then its CPU
/// leaving idle), which on this kind of VM cost more than SQLite's own work: the engine spent
/// most of a command's time in those wake-ups (docs/benchmarks.md). Most answers come within
/// tens of microseconds, so the thread stays awake that long instead.
async fn next_soon<S>(stream: &mut S) -> Option<S::Item>
where
    S: futures_util::Stream + Unpin,
{
    use futures_util::StreamExt;
    let until = std::time::Instant::now() + SPIN;
    std::future::poll_fn(|cx| {
        loop {
            match stream.poll_next_unpin(cx) {
                std::task::Poll::Pending if std::time::Instant::now() < until => {
                    std::hint::spin_loop();
                }
                other => return other,
            }
        }
    })
    .await
}

/// On SQLite, fails its script ("integer overflow", as `CONFLICT_GUARD`) unless the incident
/// is at the version.
pub(crate) const INCIDENT_VERSION_GUARD: &str = "SELECT abs(-9223372036854775807 - 1) \
    WHERE NOT EXISTS (SELECT 1 FROM incidents WHERE id = $1 AND version = $2)";

/// Sends `BEGIN IMMEDIATE` unless `*begun`, then `writes`, then `reads`, as one script; returns
/// the rows of each read and adds the ids of the outbox rows written to `outbox_ids`.
pub(crate) async fn send(
    conn: &mut sqlx::SqliteConnection,
    begun: &mut bool,
    writes: Vec<Deferred>,
    reads: Vec<(&str, Vec<Val>)>,
    outbox_ids: &mut Vec<i64>,
) -> Result<Vec<Vec<SqliteRow>>> {
    let n_reads = reads.len();
    let mut sql = String::new();
    let mut args: Vec<Val> = Vec::new();
    let mut statements = 0usize;
    let mut guarded = false;
    // The statements whose rows are outbox ids.
    let mut outbox_statements: Vec<usize> = Vec::new();
    if !*begun {
        sql.push_str(Sqlite::BEGIN);
        sql.push_str(";\n");
        statements += 1;
    }
    for op in writes {
        anonymous_placeholders(&op.sql, op.args, &mut sql, &mut args);
        sql.push_str(";\n");
        if op.outbox {
            outbox_statements.push(statements);
        }
        guarded |= op.raises;
        statements += 1;
        if op.one_row {
            // Fails the script (before anything after it, COMMIT included) unless the
            // statement changed exactly one row.
            sql.push_str(CONFLICT_GUARD);
            sql.push_str(";\n");
            statements += 1;
            guarded = true;
        }
    }
    let first_read = statements;
    for (q, a) in reads {
        anonymous_placeholders(q, a, &mut sql, &mut args);
        sql.push_str(";\n");
        statements += 1;
    }
    if statements == 0 {
        return Ok(Vec::new());
    }
    *begun = true;
    // sqlx runs every statement of a SQLite query string in order, binding the anonymous `?`
    // in turn across them (deprecated for sqlx 0.9: see docs/architecture.md).
    #[allow(deprecated)]
    let mut results = bind_all(sqlx::query(&sql), &args).fetch_many(conn);
    let mut rows: Vec<Vec<SqliteRow>> = (0..n_reads).map(|_| Vec::new()).collect();
    let mut new_outbox_ids: Vec<i64> = Vec::new();
    let mut done = 0usize;
    loop {
        match next_soon(&mut results).await.transpose() {
            Ok(Some(sqlx::Either::Left(_))) => done += 1,
            Ok(Some(sqlx::Either::Right(row))) => {
                if outbox_statements.contains(&done) {
                    new_outbox_ids.push(row.int("id")?);
                } else if let Some(r) = done.checked_sub(first_read).and_then(|i| rows.get_mut(i)) {
                    r.push(row);
                }
            }
            Ok(None) => break,
            Err(e) if guarded && e.to_string().contains("integer overflow") => {
                return Err(StoreError::Conflict);
            }
            Err(e) => return Err(e.into()),
        }
    }
    drop(results);
    if done != statements {
        return Err(StoreError::Corrupt(format!(
            "{done} of {statements} statements ran"
        )));
    }
    outbox_ids.extend(new_outbox_ids);
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::queries::values_rows;

    fn text(v: &Val) -> String {
        match v {
            Val::Int(Some(n)) => n.to_string(),
            Val::Int(None) => "NULL".into(),
            Val::Text(t) => t.clone().unwrap_or_default(),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn numbered_placeholders_become_anonymous_with_their_values_in_order() {
        let mut sql = String::from("BEGIN;\n");
        let mut args = vec![Val::from("earlier")];
        anonymous_placeholders(
            "UPDATE t SET a = $2, b = $1 WHERE id = $2 AND c = $3 AND note = 'é$'",
            vec![Val::from("x"), Val::from(7i64)],
            &mut sql,
            &mut args,
        );
        assert_eq!(
            sql,
            "BEGIN;\nUPDATE t SET a = ?, b = ? WHERE id = ? AND c = ? AND note = 'é$'"
        );
        let got: Vec<String> = args.iter().map(text).collect();
        // `$2` twice (cloned, then moved), `$3` has no value: NULL.
        assert_eq!(got, ["earlier", "7", "x", "7", "NULL"]);
    }

    #[test]
    fn a_bulk_insert_keeps_its_row_order() {
        let mut sql = String::new();
        let mut args = Vec::new();
        let rows = values_rows(3, 2, 1, "");
        anonymous_placeholders(
            &format!("INSERT INTO t (a, b) VALUES {rows}"),
            (1..=6i64).map(Val::from).collect(),
            &mut sql,
            &mut args,
        );
        assert_eq!(sql, "INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, ?)");
        let got: Vec<String> = args.iter().map(text).collect();
        assert_eq!(got, ["1", "2", "3", "4", "5", "6"]);
    }
}
