//! The two sqlx backends. The SQL is the same text for both (`$n` placeholders work in
//! SQLite and PostgreSQL), so one macro writes both implementations; only connecting, row
//! locks and the way a write transaction starts differ.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use super::migrations::migrator;
use super::queries::*;
use super::sqlite::batch::{
    CONFLICT_GUARD, INCIDENT_VERSION_GUARD, anonymous_placeholders, next_soon,
};
use super::values::Val;
use super::*;
use crate::domain::incident::{IncidentId, Source};

fn parse_style(s: &str) -> Result<Style> {
    Style::parse(s).ok_or_else(|| StoreError::Corrupt(format!("delivery style `{s}`")))
}

fn parse_severity(s: &str) -> Result<Severity> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("severity `{s}`")))
}

fn parse_status(s: &str) -> Result<crate::domain::incident::Status> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("status `{s}`")))
}

fn split_list(s: &str) -> Vec<String> {
    s.split('\n')
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

/// A write whose result nothing waits for, kept until the transaction next reads or commits.
struct Deferred {
    sql: String,
    args: Vec<Val>,
    /// Must change exactly one row, or the transaction fails with `Conflict` (the optimistic
    /// version check of an incident update).
    one_row: bool,
    /// An outbox insert: its `RETURNING id` rows are the ids of the new deliveries.
    outbox: bool,
    /// May fail its script with "integer overflow", which means `Conflict` (SQLite).
    raises: bool,
}

macro_rules! sql_backend {
    ($db:ty, $row:ty, $store:ident, $tx:ident, $for_update:expr, $skip_locked:expr, $begin:expr, $one_script:expr) => {
        use sqlx::Row;

        type Q<'q> = sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>;

        fn bind_all<'q>(mut q: Q<'q>, vals: &'q [Val]) -> Q<'q> {
            for v in vals {
                q = match v {
                    Val::Int(x) => q.bind(*x),
                    Val::Text(x) => q.bind(x.as_deref()),
                    Val::Bool(x) => q.bind(*x),
                    Val::Time(x) => q.bind(*x),
                };
            }
            q
        }

        fn incident_from_row(r: &$row) -> Result<Incident> {
            Ok(Incident {
                id: IncidentId(r.try_get("id")?),
                title: r.try_get("title")?,
                severity: parse_severity(&r.try_get::<String, _>("severity")?)?,
                status: parse_status(&r.try_get::<String, _>("status")?)?,
                commander: r.try_get("commander")?,
                impacted_apps: split_list(&r.try_get::<String, _>("impacted_apps")?),
                business_impact: r.try_get("business_impact")?,
                opened_by: r.try_get("opened_by")?,
                opened_platform: r.try_get("opened_platform")?,
                opened_channel: r.try_get("opened_channel")?,
                started_at: r.try_get("started_at")?,
                sla_class: r.try_get("sla_class")?,
                sla_window_secs: r.try_get("sla_window_secs")?,
                ack_deadline: r.try_get("ack_deadline")?,
                acknowledged_at: r.try_get("acknowledged_at")?,
                acknowledged_by: r.try_get("acknowledged_by")?,
                acknowledged_where: r.try_get("acknowledged_where")?,
                resolved_at: r.try_get("resolved_at")?,
                resolution: r.try_get("resolution")?,
                last_update_at: r.try_get("last_update_at")?,
                version: r.try_get("version")?,
            })
        }

        fn delivery_from_row(r: &$row) -> Result<Delivery> {
            Ok(Delivery {
                id: r.try_get("id")?,
                new: NewDelivery {
                    platform: r.try_get("platform")?,
                    channel: r.try_get("channel")?,
                    incident_id: r.try_get("incident_id")?,
                    style: parse_style(&r.try_get::<String, _>("style")?)?,
                    in_thread: r.try_get("in_thread")?,
                    thread_ref: r.try_get("thread_ref")?,
                    author: r.try_get("author")?,
                    text: r.try_get("text")?,
                    mentions: split_list(&r.try_get::<String, _>("mentions")?),
                    source_message: r.try_get("source_message")?,
                    source_key: None,
                    edit_of: r.try_get("edit_of")?,
                    delete_of: r.try_get("delete_of")?,
                },
                status: DeliveryStatus::parse(&r.try_get::<String, _>("status")?)?,
                attempts: r.try_get("attempts")?,
                next_attempt_at: r.try_get("next_attempt_at")?,
                last_error: r.try_get("last_error")?,
                remote_id: r.try_get("remote_id")?,
                created_at: r.try_get("created_at")?,
                sent_at: r.try_get("sent_at")?,
            })
        }

        fn thread_from_row(r: &$row) -> Result<ThreadRow> {
            Ok(ThreadRow {
                incident_id: r.try_get("incident_id")?,
                platform: r.try_get("platform")?,
                channel: r.try_get("channel")?,
                root_delivery_id: r.try_get("root_delivery_id")?,
                thread_ref: r.try_get("thread_ref")?,
            })
        }

        fn timer_from_row(r: &$row) -> Result<Timer> {
            Ok(Timer {
                id: r.try_get("id")?,
                new: NewTimer {
                    incident_id: r.try_get("incident_id")?,
                    kind: r.try_get("kind")?,
                    due_at: r.try_get("due_at")?,
                    payload: r.try_get("payload")?,
                },
                state: TimerState::parse(&r.try_get::<String, _>("state")?)?,
                fired_at: r.try_get("fired_at")?,
                late_ms: r.try_get("late_ms")?,
            })
        }

        fn message_from_row(r: &$row) -> Result<MessageRow> {
            Ok(MessageRow {
                id: r.try_get("id")?,
                record: MessageRecord {
                    platform: r.try_get("platform")?,
                    channel: r.try_get("channel")?,
                    message_id: r.try_get("message_id")?,
                    thread: r.try_get("thread")?,
                    incident_id: r.try_get("incident_id")?,
                    author_id: r.try_get("author_id")?,
                    author_display: r.try_get("author_display")?,
                    text: r.try_get("text")?,
                    sent_at: r.try_get("sent_at")?,
                    received_at: r.try_get("received_at")?,
                },
            })
        }

        fn timeline_from_row(r: &$row) -> Result<TimelineEvent> {
            Ok(TimelineEvent {
                incident: IncidentId(r.try_get("incident_id")?),
                at: r.try_get("at")?,
                kind: r.try_get("kind")?,
                actor: r.try_get("actor")?,
                source: Source {
                    platform: r.try_get("platform")?,
                    channel: r.try_get("channel")?,
                    user: r.try_get("actor")?,
                    message_id: r.try_get("message_id")?,
                },
                detail: r.try_get("detail")?,
            })
        }

        /// A transaction on a pooled connection, begun and ended by our own statements so
        /// that on SQLite they travel with the others.
        ///
        /// Writes whose results nothing waits for are deferred and sent with the next
        /// statement that must run now (a read, or `commit`): on SQLite as one script, so a
        /// transaction costs few round trips to the driver's thread (`BEGIN` goes with the
        /// first statement, `COMMIT` with the last writes); on PostgreSQL one after the other.
        pub struct $tx {
            conn: Option<sqlx::pool::PoolConnection<$db>>,
            begun: bool,
            finished: bool,
            deferred: Vec<Deferred>,
            /// Ids of the outbox rows written so far, in the order they were written.
            outbox_ids: Vec<i64>,
        }

        impl Drop for $tx {
            fn drop(&mut self) {
                let Some(mut conn) = self.conn.take() else {
                    return;
                };
                if !self.begun || self.finished {
                    return;
                }
                // Roll back before the connection can be used again: it goes back to the pool
                // only once the task is done (or is closed when there is no runtime left).
                match tokio::runtime::Handle::try_current() {
                    Ok(rt) => {
                        rt.spawn(async move {
                            if sqlx::query("ROLLBACK").execute(&mut *conn).await.is_err() {
                                conn.close_on_drop();
                            }
                        });
                    }
                    Err(_) => conn.close_on_drop(),
                }
            }
        }

        impl $tx {
            fn db(&mut self) -> Result<&mut sqlx::pool::PoolConnection<$db>> {
                self.conn
                    .as_mut()
                    .ok_or_else(|| StoreError::Corrupt("the transaction has ended".into()))
            }

            fn defer(&mut self, sql: impl Into<String>, args: Vec<Val>, one_row: bool) {
                self.deferred.push(Deferred {
                    sql: sql.into(),
                    args,
                    one_row,
                    outbox: false,
                    raises: false,
                });
            }

            /// Sends what is pending (`BEGIN`, deferred writes), then `last` if given, and
            /// returns the rows of `last`.
            async fn run(&mut self, last: Option<(&str, Vec<Val>)>) -> Result<Vec<$row>> {
                let reads: Vec<(&str, Vec<Val>)> = last.into_iter().collect();
                Ok(self.run_reads(reads).await?.pop().unwrap_or_default())
            }

            /// Sends what is pending, then each of `reads`; returns the rows of each read.
            async fn run_reads(&mut self, reads: Vec<(&str, Vec<Val>)>) -> Result<Vec<Vec<$row>>> {
                let ops = std::mem::take(&mut self.deferred);
                let n_reads = reads.len();
                if $one_script {
                    let mut sql = String::new();
                    let mut args: Vec<Val> = Vec::new();
                    let mut statements = 0usize;
                    let mut guarded = false;
                    // The statements whose rows are outbox ids.
                    let mut outbox_statements: Vec<usize> = Vec::new();
                    if !self.begun {
                        sql.push_str($begin);
                        sql.push_str(";\n");
                        statements += 1;
                    }
                    for op in ops {
                        anonymous_placeholders(&op.sql, op.args, &mut sql, &mut args);
                        sql.push_str(";\n");
                        if op.outbox {
                            outbox_statements.push(statements);
                        }
                        guarded |= op.raises;
                        statements += 1;
                        if op.one_row {
                            // Fails the script (before anything after it, COMMIT included)
                            // unless the statement changed exactly one row.
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
                    self.begun = true;
                    let conn = self.db()?;
                    // sqlx runs every statement of a SQLite query string in order, binding the
                    // anonymous `?` in turn across them (deprecated for sqlx 0.9: see
                    // docs/architecture.md).
                    #[allow(deprecated)]
                    let mut results = bind_all(sqlx::query(&sql), &args).fetch_many(&mut **conn);
                    let mut rows: Vec<Vec<$row>> = (0..n_reads).map(|_| Vec::new()).collect();
                    let mut outbox_ids: Vec<i64> = Vec::new();
                    let mut done = 0usize;
                    loop {
                        match next_soon(&mut results).await.transpose() {
                            Ok(Some(sqlx::Either::Left(_))) => done += 1,
                            Ok(Some(sqlx::Either::Right(row))) => {
                                if outbox_statements.contains(&done) {
                                    outbox_ids.push(row.try_get("id")?);
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
                    self.outbox_ids.extend(outbox_ids);
                    Ok(rows)
                } else {
                    if !self.begun {
                        sqlx::query($begin).execute(&mut **self.db()?).await?;
                        self.begun = true;
                    }
                    for op in &ops {
                        if op.outbox {
                            let rows = bind_all(sqlx::query(&op.sql), &op.args)
                                .fetch_all(&mut **self.db()?)
                                .await?;
                            for r in &rows {
                                self.outbox_ids.push(r.try_get("id")?);
                            }
                            continue;
                        }
                        let done = bind_all(sqlx::query(&op.sql), &op.args)
                            .execute(&mut **self.db()?)
                            .await?;
                        if op.one_row && done.rows_affected() != 1 {
                            return Err(StoreError::Conflict);
                        }
                    }
                    let mut rows = Vec::with_capacity(n_reads);
                    for (q, a) in reads {
                        rows.push(bind_all(sqlx::query(q), &a).fetch_all(&mut **self.db()?).await?);
                    }
                    Ok(rows)
                }
            }

            async fn flush(&mut self) -> Result<()> {
                if self.begun && self.deferred.is_empty() {
                    return Ok(());
                }
                self.run(None).await.map(|_| ())
            }
        }

        #[async_trait]
        impl Tx for $tx {
            async fn commit(self: Box<Self>) -> Result<()> {
                self.commit_outbox().await.map(|_| ())
            }

            async fn commit_outbox(mut self: Box<Self>) -> Result<Vec<i64>> {
                if !self.begun && self.deferred.is_empty() {
                    // Nothing was read or written.
                    self.finished = true;
                    return Ok(Vec::new());
                }
                if $one_script {
                    self.run(Some(("COMMIT", Vec::new()))).await?;
                } else {
                    self.flush().await?;
                    sqlx::query("COMMIT").execute(&mut **self.db()?).await?;
                }
                self.finished = true;
                Ok(std::mem::take(&mut self.outbox_ids))
            }

            async fn incident(&mut self, id: i64) -> Result<Option<Incident>> {
                let q = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1{}", $for_update);
                let rows = self.run(Some((&q, vec![id.into()]))).await?;
                rows.first().map(incident_from_row).transpose()
            }

            async fn insert_incident(&mut self, n: &NewIncident) -> Result<Incident> {
                let q = format!(
                    "INSERT INTO incidents (title, severity, status, opened_by, opened_platform, \
                     opened_channel, started_at, sla_class, sla_window_secs, ack_deadline, \
                     last_update_at, impacted_apps, version) \
                     VALUES ($1, $2, 'investigating', $3, $4, $5, $6, $7, $8, $9, $6, '', 0) \
                     RETURNING {INCIDENT_COLUMNS}"
                );
                let args = vec![
                    (&n.title).into(),
                    n.severity.as_str().into(),
                    (&n.opened_by).into(),
                    (&n.opened_platform).into(),
                    (&n.opened_channel).into(),
                    n.started_at.into(),
                    (&n.sla_class).into(),
                    n.sla_window_secs.into(),
                    n.ack_deadline.into(),
                ];
                let rows = self.run(Some((&q, args))).await?;
                match rows.first() {
                    Some(row) => incident_from_row(row),
                    None => Err(StoreError::Corrupt("INSERT returned no incident".into())),
                }
            }

            async fn save_incident(&mut self, i: &mut Incident) -> Result<()> {
                self.defer(
                    "UPDATE incidents SET title = $1, severity = $2, status = $3, commander = $4, \
                     impacted_apps = $5, business_impact = $6, acknowledged_at = $7, \
                     acknowledged_by = $8, acknowledged_where = $9, resolved_at = $10, \
                     resolution = $11, last_update_at = $12, version = version + 1 \
                     WHERE id = $13 AND version = $14",
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
                    ],
                    true,
                );
                i.version += 1;
                Ok(())
            }

            async fn open_incidents(&mut self) -> Result<Vec<Incident>> {
                self.flush().await?;
                let q = format!(
                    "SELECT {INCIDENT_COLUMNS} FROM incidents \
                     WHERE status IN ('investigating', 'identified', 'monitoring') ORDER BY id"
                );
                let rows = sqlx::query(&q).fetch_all(&mut **self.db()?).await?;
                rows.iter().map(incident_from_row).collect()
            }

            async fn incident_count(&mut self) -> Result<i64> {
                self.flush().await?;
                let row = sqlx::query("SELECT COUNT(*) AS n FROM incidents")
                    .fetch_one(&mut **self.db()?)
                    .await?;
                Ok(row.try_get("n")?)
            }

            async fn add_timeline(&mut self, ev: &TimelineEvent) -> Result<()> {
                self.defer(
                    "INSERT INTO timeline (incident_id, at, kind, actor, platform, channel, \
                     message_id, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    vec![
                        ev.incident.0.into(),
                        ev.at.into(),
                        (&ev.kind).into(),
                        (&ev.actor).into(),
                        (&ev.source.platform).into(),
                        (&ev.source.channel).into(),
                        (&ev.source.message_id).into(),
                        (&ev.detail).into(),
                    ],
                    false,
                );
                Ok(())
            }

            async fn timeline(&mut self, incident_id: i64) -> Result<Vec<TimelineEvent>> {
                self.flush().await?;
                let rows = sqlx::query(
                    "SELECT incident_id, at, kind, actor, platform, channel, message_id, detail \
                     FROM timeline WHERE incident_id = $1 ORDER BY id",
                )
                .bind(incident_id)
                .fetch_all(&mut **self.db()?)
                .await?;
                rows.iter().map(timeline_from_row).collect()
            }

            async fn has_timeline(&mut self, incident_id: i64, kind: &str) -> Result<bool> {
                self.flush().await?;
                let row = sqlx::query(
                    "SELECT id FROM timeline WHERE incident_id = $1 AND kind = $2 LIMIT 1",
                )
                .bind(incident_id)
                .bind(kind)
                .fetch_optional(&mut **self.db()?)
                .await?;
                Ok(row.is_some())
            }

            async fn record_message(&mut self, m: &MessageRecord) -> Result<Option<i64>> {
                let rows = self.run(Some((RECORD_MESSAGE, message_args(m)))).await?;
                rows.first()
                    .map(|r| r.try_get("id").map_err(StoreError::from))
                    .transpose()
            }

            async fn record_messages(&mut self, ms: &[MessageRecord]) -> Result<Vec<Option<i64>>> {
                let mut ids: std::collections::HashMap<(String, String, String), i64> =
                    std::collections::HashMap::new();
                let mut queries = Vec::new();
                for chunk in pow2_chunks(ms, 64) {
                    let n = chunk.len();
                    let q = format!(
                        "INSERT INTO messages (platform, channel, message_id, thread, incident_id, \
                         author_id, author_display, text, sent_at, received_at) VALUES {} \
                         ON CONFLICT (platform, channel, message_id) DO NOTHING \
                         RETURNING id, platform, channel, message_id",
                        values_rows(n, 10, 1, "")
                    );
                    let args: Vec<Val> = chunk.iter().flat_map(message_args).collect();
                    queries.push((q, args));
                }
                let reads = queries.iter().map(|(q, a)| (q.as_str(), a.clone())).collect();
                for rows in self.run_reads(reads).await? {
                    for r in rows {
                        ids.insert(
                            (r.try_get("platform")?, r.try_get("channel")?, r.try_get("message_id")?),
                            r.try_get("id")?,
                        );
                    }
                }
                // The first of two equal keys was the one inserted; the second is a duplicate.
                Ok(ms
                    .iter()
                    .map(|m| {
                        ids.remove(&(m.platform.clone(), m.channel.clone(), m.message_id.clone()))
                    })
                    .collect())
            }

            async fn forget_messages(&mut self, ids: &[i64]) -> Result<()> {
                if ids.is_empty() {
                    return Ok(());
                }
                let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
                let q = format!("DELETE FROM messages WHERE id IN ({})", placeholders.join(", "));
                self.defer(q, ids.iter().map(|id| Val::from(*id)).collect(), false);
                Ok(())
            }

            async fn record_new_message(&mut self, m: &MessageRecord) -> Result<()> {
                self.defer(RECORD_NEW_MESSAGE, message_args(m), true);
                Ok(())
            }

            async fn expect_incident_version(&mut self, id: i64, version: i64) -> Result<()> {
                let args = vec![id.into(), version.into()];
                if $one_script {
                    self.deferred.push(Deferred {
                        sql: INCIDENT_VERSION_GUARD.into(),
                        args,
                        one_row: false,
                        outbox: false,
                        raises: true,
                    });
                } else {
                    // A SELECT's row count is its `rows_affected`.
                    let q = format!(
                        "SELECT id FROM incidents WHERE id = $1 AND version = $2{}",
                        $for_update
                    );
                    self.defer(q, args, true);
                }
                Ok(())
            }

            async fn record_message_reading(
                &mut self,
                m: &MessageRecord,
                incident: Option<i64>,
                threads_of: Option<i64>,
            ) -> Result<(Option<i64>, Option<Incident>, Option<Vec<ThreadRow>>)> {
                let incident_q = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1{}", $for_update);
                let mut reads: Vec<(&str, Vec<Val>)> = vec![(RECORD_MESSAGE, message_args(m))];
                if let Some(id) = incident {
                    reads.push((&incident_q, vec![id.into()]));
                }
                if let Some(id) = threads_of {
                    reads.push((THREADS_OF, vec![id.into()]));
                }
                let mut rows = self.run_reads(reads).await?.into_iter();
                let msg = rows
                    .next()
                    .unwrap_or_default()
                    .first()
                    .map(|r| r.try_get("id").map_err(StoreError::from))
                    .transpose()?;
                let inc = match incident {
                    Some(_) => rows
                        .next()
                        .unwrap_or_default()
                        .first()
                        .map(incident_from_row)
                        .transpose()?,
                    None => None,
                };
                let threads = match threads_of {
                    Some(_) => Some(
                        rows.next()
                            .unwrap_or_default()
                            .iter()
                            .map(thread_from_row)
                            .collect::<Result<Vec<_>>>()?,
                    ),
                    None => None,
                };
                Ok((msg, inc, threads))
            }

            async fn find_message(
                &mut self,
                platform: &str,
                channel: &str,
                message_id: &str,
            ) -> Result<Option<MessageRow>> {
                self.flush().await?;
                let q = format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages \
                     WHERE platform = $1 AND channel = $2 AND message_id = $3"
                );
                let row = sqlx::query(&q)
                    .bind(platform)
                    .bind(channel)
                    .bind(message_id)
                    .fetch_optional(&mut **self.db()?)
                    .await?;
                row.as_ref().map(message_from_row).transpose()
            }

            async fn set_message_incident(&mut self, id: i64, incident_id: i64) -> Result<()> {
                self.defer(
                    "UPDATE messages SET incident_id = $1 WHERE id = $2",
                    vec![incident_id.into(), id.into()],
                    false,
                );
                Ok(())
            }

            async fn incident_for_thread(
                &mut self,
                platform: &str,
                channel: &str,
                thread_ref: &str,
            ) -> Result<Option<i64>> {
                // The thread root itself, a mirrored copy replied to, or an inbound
                // message replied to.
                let rows = self
                    .run(Some((
                        "SELECT incident_id FROM threads \
                           WHERE platform = $1 AND thread_ref = $3 AND (channel = $2 OR thread_ref = $2) \
                         UNION ALL \
                         SELECT incident_id FROM deliveries \
                           WHERE platform = $1 AND remote_id = $3 AND incident_id IS NOT NULL \
                         UNION ALL \
                         SELECT incident_id FROM messages \
                           WHERE platform = $1 AND channel = $2 AND message_id = $3 \
                           AND incident_id IS NOT NULL \
                         LIMIT 1",
                        vec![platform.into(), channel.into(), thread_ref.into()],
                    )))
                    .await?;
                rows.first()
                    .map(|r| r.try_get("incident_id").map_err(StoreError::from))
                    .transpose()
            }

            async fn threads(&mut self, incident_id: i64) -> Result<Vec<ThreadRow>> {
                let rows = self.run(Some((THREADS_OF, vec![incident_id.into()]))).await?;
                rows.iter().map(thread_from_row).collect()
            }

            async fn thread_root_in_flight(&mut self, platform: &str, channel: &str) -> Result<bool> {
                self.flush().await?;
                let row = sqlx::query(
                    "SELECT t.incident_id FROM threads t JOIN deliveries d ON d.id = t.root_delivery_id \
                     WHERE t.platform = $1 AND t.channel = $2 AND t.thread_ref IS NULL \
                     AND d.status = 'pending' LIMIT 1",
                )
                .bind(platform)
                .bind(channel)
                .fetch_optional(&mut **self.db()?)
                .await?;
                Ok(row.is_some())
            }

            async fn insert_thread(&mut self, t: &ThreadRow) -> Result<()> {
                self.defer(
                    "INSERT INTO threads (incident_id, platform, channel, root_delivery_id, \
                     thread_ref) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (incident_id, platform, channel) DO NOTHING",
                    vec![
                        t.incident_id.into(),
                        (&t.platform).into(),
                        (&t.channel).into(),
                        t.root_delivery_id.into(),
                        (&t.thread_ref).into(),
                    ],
                    false,
                );
                Ok(())
            }

            async fn enqueue(&mut self, d: &NewDelivery, not_before: DateTime<Utc>) -> Result<i64> {
                let mut args = vec![not_before.into()];
                let mut q = format!("INSERT INTO deliveries ({INSERT_DELIVERY_COLUMNS}) VALUES ");
                push_delivery_row(&mut q, &mut args, d, "'pending', 0, $1, $1");
                q.push_str(" RETURNING id");
                let rows = self.run(Some((&q, args))).await?;
                match rows.first() {
                    Some(r) => {
                        let id = r.try_get("id")?;
                        self.outbox_ids.push(id);
                        Ok(id)
                    }
                    None => Err(StoreError::Corrupt("INSERT returned no id".into())),
                }
            }

            async fn enqueue_many(&mut self, ds: &[NewDelivery], not_before: DateTime<Utc>) -> Result<()> {
                // Power-of-two chunks: few distinct statement texts for the statement cache.
                for chunk in pow2_chunks(ds, 64) {
                    let mut q = format!("INSERT INTO deliveries ({INSERT_DELIVERY_COLUMNS}) VALUES ");
                    let mut args: Vec<Val> = Vec::with_capacity(1 + 12 * chunk.len());
                    args.push(not_before.into());
                    for (i, d) in chunk.iter().enumerate() {
                        if i > 0 {
                            q.push_str(", ");
                        }
                        push_delivery_row(&mut q, &mut args, d, "'pending', 0, $1, $1");
                    }
                    q.push_str(" RETURNING id");
                    self.deferred.push(Deferred {
                        sql: q,
                        args,
                        one_row: false,
                        outbox: true,
                        raises: false,
                    });
                }
                Ok(())
            }

            async fn copies_of(&mut self, source_message: i64) -> Result<Vec<Delivery>> {
                self.flush().await?;
                let q = format!(
                    "SELECT {DELIVERY_COLUMNS} FROM deliveries \
                     WHERE source_message = $1 AND edit_of IS NULL AND delete_of IS NULL ORDER BY id"
                );
                let rows = sqlx::query(&q)
                    .bind(source_message)
                    .fetch_all(&mut **self.db()?)
                    .await?;
                rows.iter().map(delivery_from_row).collect()
            }

            async fn failed_deliveries(&mut self, incident_id: i64) -> Result<Vec<Delivery>> {
                self.flush().await?;
                let q = format!(
                    "SELECT {DELIVERY_COLUMNS} FROM deliveries \
                     WHERE incident_id = $1 AND status = 'failed' ORDER BY id"
                );
                let rows = sqlx::query(&q)
                    .bind(incident_id)
                    .fetch_all(&mut **self.db()?)
                    .await?;
                rows.iter().map(delivery_from_row).collect()
            }

            async fn delivery_counts(&mut self, incident_id: i64) -> Result<DeliveryCounts> {
                self.flush().await?;
                let rows = sqlx::query(
                    "SELECT status, COUNT(*) AS n FROM deliveries WHERE incident_id = $1 \
                     GROUP BY status",
                )
                .bind(incident_id)
                .fetch_all(&mut **self.db()?)
                .await?;
                let mut c = DeliveryCounts::default();
                for r in rows {
                    let n: i64 = r.try_get("n")?;
                    match DeliveryStatus::parse(&r.try_get::<String, _>("status")?)? {
                        DeliveryStatus::Pending => c.pending = n,
                        DeliveryStatus::Sent => c.sent = n,
                        DeliveryStatus::Failed => c.failed = n,
                    }
                }
                Ok(c)
            }

            async fn add_timer(&mut self, t: &NewTimer) -> Result<i64> {
                self.flush().await?;
                let row = sqlx::query(
                    "INSERT INTO timers (incident_id, kind, due_at, payload, state, created_at) \
                     VALUES ($1, $2, $3, $4, 'pending', $3) RETURNING id",
                )
                .bind(t.incident_id)
                .bind(&t.kind)
                .bind(t.due_at)
                .bind(&t.payload)
                .fetch_one(&mut **self.db()?)
                .await?;
                Ok(row.try_get("id")?)
            }

            async fn add_timers(&mut self, timers: &[NewTimer]) -> Result<()> {
                if timers.is_empty() {
                    return Ok(());
                }
                let q = format!(
                    "INSERT INTO timers (incident_id, kind, due_at, payload, created_at, state) VALUES {}",
                    values_rows(timers.len(), 5, 1, "'pending'")
                );
                let mut args: Vec<Val> = Vec::with_capacity(5 * timers.len());
                for t in timers {
                    args.extend([
                        t.incident_id.into(),
                        (&t.kind).into(),
                        t.due_at.into(),
                        (&t.payload).into(),
                        t.due_at.into(),
                    ]);
                }
                self.defer(q, args, false);
                Ok(())
            }

            async fn reset_timer(&mut self, incident_id: i64, kind: &str, due_at: DateTime<Utc>) -> Result<()> {
                // Move the pending one, or add it when there is none.
                self.defer(
                    "UPDATE timers SET due_at = $3 \
                     WHERE incident_id = $1 AND kind = $2 AND state = 'pending'",
                    vec![incident_id.into(), kind.into(), due_at.into()],
                    false,
                );
                self.defer(
                    "INSERT INTO timers (incident_id, kind, due_at, payload, state, created_at) \
                     SELECT $1, $2, $3, '', 'pending', $3 WHERE NOT EXISTS (SELECT 1 FROM timers \
                     WHERE incident_id = $1 AND kind = $2 AND state = 'pending')",
                    vec![incident_id.into(), kind.into(), due_at.into()],
                    false,
                );
                Ok(())
            }

            async fn move_timers(
                &mut self,
                incident_id: i64,
                kind: &str,
                due_at: DateTime<Utc>,
            ) -> Result<u64> {
                self.flush().await?;
                Ok(sqlx::query(
                    "UPDATE timers SET due_at = $1 \
                     WHERE incident_id = $2 AND kind = $3 AND state = 'pending'",
                )
                .bind(due_at)
                .bind(incident_id)
                .bind(kind)
                .execute(&mut **self.db()?)
                .await?
                .rows_affected())
            }

            async fn cancel_timers(&mut self, incident_id: i64, kinds: &[&str]) -> Result<()> {
                if kinds.is_empty() {
                    return Ok(());
                }
                let placeholders: Vec<String> =
                    (0..kinds.len()).map(|i| format!("${}", i + 2)).collect();
                let q = format!(
                    "UPDATE timers SET state = 'cancelled' WHERE incident_id = $1 \
                     AND state = 'pending' AND kind IN ({})",
                    placeholders.join(", ")
                );
                let mut args: Vec<Val> = vec![incident_id.into()];
                args.extend(kinds.iter().map(|k| Val::from(*k)));
                self.defer(q, args, false);
                Ok(())
            }

            async fn pending_timers(&mut self, incident_id: Option<i64>) -> Result<Vec<Timer>> {
                self.flush().await?;
                // Two statements rather than `$1 IS NULL OR ...`, which SQLite cannot index.
                let rows = match incident_id {
                    Some(id) => {
                        let q = format!(
                            "SELECT {TIMER_COLUMNS} FROM timers WHERE incident_id = $1 \
                             AND state = 'pending' ORDER BY due_at, id"
                        );
                        sqlx::query(&q).bind(id).fetch_all(&mut **self.db()?).await?
                    }
                    None => {
                        let q = format!(
                            "SELECT {TIMER_COLUMNS} FROM timers WHERE state = 'pending' \
                             ORDER BY due_at, id"
                        );
                        sqlx::query(&q).fetch_all(&mut **self.db()?).await?
                    }
                };
                rows.iter().map(timer_from_row).collect()
            }

            async fn claim_due_timers(&mut self, now: DateTime<Utc>, limit: i64) -> Result<Vec<Timer>> {
                self.flush().await?;
                let q = format!(
                    "SELECT {TIMER_COLUMNS} FROM timers WHERE state = 'pending' AND due_at <= $1 \
                     ORDER BY due_at, id LIMIT $2{}",
                    $skip_locked
                );
                let rows = sqlx::query(&q)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&mut **self.db()?)
                    .await?;
                rows.iter().map(timer_from_row).collect()
            }

            async fn mark_timer_fired(&mut self, id: i64, at: DateTime<Utc>, late_ms: i64) -> Result<()> {
                self.defer(
                    "UPDATE timers SET state = 'fired', fired_at = $1, late_ms = $2 \
                     WHERE id = $3 AND state = 'pending'",
                    vec![at.into(), late_ms.into(), id.into()],
                    false,
                );
                Ok(())
            }

            async fn ensure_timer(&mut self, t: &NewTimer) -> Result<bool> {
                self.flush().await?;
                let n = sqlx::query(
                    "INSERT INTO timers (incident_id, kind, due_at, payload, state, created_at) \
                     VALUES (NULL, $1, $2, $3, 'pending', $2) ON CONFLICT DO NOTHING",
                )
                .bind(&t.kind)
                .bind(t.due_at)
                .bind(&t.payload)
                .execute(&mut **self.db()?)
                .await?
                .rows_affected();
                Ok(n == 1)
            }

            async fn fired_timers(&mut self, incident_id: Option<i64>) -> Result<Vec<Timer>> {
                self.flush().await?;
                let q = format!(
                    "SELECT {TIMER_COLUMNS} FROM timers WHERE state = 'fired' \
                     AND ($1 IS NULL OR incident_id = $1) ORDER BY fired_at, id"
                );
                let rows = sqlx::query(&q)
                    .bind(incident_id)
                    .fetch_all(&mut **self.db()?)
                    .await?;
                rows.iter().map(timer_from_row).collect()
            }

            async fn add_oncall_override(&mut self, o: &OncallOverride) -> Result<i64> {
                self.flush().await?;
                let row = sqlx::query(
                    "INSERT INTO oncall_overrides (rotation, person, starts_at, ends_at, \
                     created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(&o.rotation)
                .bind(&o.person)
                .bind(o.starts_at)
                .bind(o.ends_at)
                .bind(&o.created_by)
                .bind(o.created_at)
                .fetch_one(&mut **self.db()?)
                .await?;
                Ok(row.try_get("id")?)
            }

            async fn oncall_overrides(
                &mut self,
                rotation: &str,
                from: DateTime<Utc>,
            ) -> Result<Vec<OncallOverride>> {
                self.flush().await?;
                let rows = sqlx::query(
                    "SELECT rotation, person, starts_at, ends_at, created_by, created_at \
                     FROM oncall_overrides WHERE rotation = $1 AND ends_at > $2 ORDER BY id",
                )
                .bind(rotation)
                .bind(from)
                .fetch_all(&mut **self.db()?)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(OncallOverride {
                            rotation: r.try_get("rotation")?,
                            person: r.try_get("person")?,
                            starts_at: r.try_get("starts_at")?,
                            ends_at: r.try_get("ends_at")?,
                            created_by: r.try_get("created_by")?,
                            created_at: r.try_get("created_at")?,
                        })
                    })
                    .collect()
            }
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> Backend {
                self.backend
            }

            async fn begin(&self) -> Result<Box<dyn Tx>> {
                self.activity.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let conn = self.pool.acquire().await?;
                Ok(Box::new($tx {
                    conn: Some(conn),
                    begun: false,
                    finished: false,
                    deferred: Vec::new(),
                    outbox_ids: Vec::new(),
                }))
            }

            async fn pending_deliveries(&self, platform: &str, limit: i64) -> Result<Vec<Delivery>> {
                let q = format!(
                    "SELECT {DELIVERY_COLUMNS} FROM deliveries \
                     WHERE platform = $1 AND status = 'pending' ORDER BY id LIMIT $2"
                );
                let rows = sqlx::query(&q)
                    .bind(platform)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(delivery_from_row).collect()
            }

            async fn delivery(&self, id: i64) -> Result<Option<Delivery>> {
                let q = format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = $1");
                let row = sqlx::query(&q).bind(id).fetch_optional(&self.pool).await?;
                row.as_ref().map(delivery_from_row).transpose()
            }

            async fn thread(
                &self,
                incident_id: i64,
                platform: &str,
                channel: &str,
            ) -> Result<Option<ThreadRow>> {
                let row = sqlx::query(
                    "SELECT incident_id, platform, channel, root_delivery_id, thread_ref \
                     FROM threads WHERE incident_id = $1 AND platform = $2 AND channel = $3",
                )
                .bind(incident_id)
                .bind(platform)
                .bind(channel)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(thread_from_row).transpose()
            }

            async fn mark_sent(
                &self,
                id: i64,
                remote_id: &str,
                thread_ref: Option<&str>,
                at: DateTime<Utc>,
            ) -> Result<()> {
                let sent = "UPDATE deliveries SET status = 'sent', remote_id = $1, sent_at = $2, \
                     attempts = attempts + 1, last_error = NULL WHERE id = $3";
                let Some(thread_ref) = thread_ref else {
                    // One statement needs no transaction (and saves two round trips).
                    sqlx::query(sent)
                        .bind(remote_id)
                        .bind(at)
                        .bind(id)
                        .execute(&self.pool)
                        .await?;
                    return Ok(());
                };
                let mut tx = self.pool.begin_with($begin).await?;
                sqlx::query(sent)
                    .bind(remote_id)
                    .bind(at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("UPDATE threads SET thread_ref = $1 WHERE root_delivery_id = $2")
                    .bind(thread_ref)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn mark_sent_many(&self, sent: &[(i64, String)], at: DateTime<Utc>) -> Result<()> {
                for chunk in pow2_chunks(sent, 64) {
                    let n = chunk.len();
                    // $1 is the time; then (id, remote id) pairs.
                    let cases: String = (0..n)
                        .map(|i| format!(" WHEN ${} THEN ${}", 2 * i + 2, 2 * i + 3))
                        .collect();
                    let ids: Vec<String> = (0..n).map(|i| format!("${}", 2 * i + 2)).collect();
                    let q = format!(
                        "UPDATE deliveries SET status = 'sent', remote_id = CASE id{cases} END, \
                         sent_at = $1, attempts = attempts + 1, last_error = NULL \
                         WHERE id IN ({})",
                        ids.join(", ")
                    );
                    let mut query = sqlx::query(&q).bind(at);
                    for (id, remote) in chunk {
                        query = query.bind(*id).bind(remote.as_str());
                    }
                    query.execute(&self.pool).await?;
                }
                Ok(())
            }

            async fn mark_retry(&self, id: i64, error: &str, next_at: DateTime<Utc>) -> Result<()> {
                sqlx::query(
                    "UPDATE deliveries SET attempts = attempts + 1, last_error = $1, \
                     next_attempt_at = $2 WHERE id = $3",
                )
                .bind(error)
                .bind(next_at)
                .bind(id)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn mark_failed(&self, id: i64, error: &str) -> Result<()> {
                sqlx::query(
                    "UPDATE deliveries SET status = 'failed', attempts = attempts + 1, \
                     last_error = $1 WHERE id = $2",
                )
                .bind(error)
                .bind(id)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn next_timer_due(&self) -> Result<Option<DateTime<Utc>>> {
                let row = sqlx::query(
                    "SELECT due_at FROM timers WHERE state = 'pending' ORDER BY due_at LIMIT 1",
                )
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| r.try_get("due_at").map_err(StoreError::from))
                    .transpose()
            }

            async fn overdue_timers(&self, now: DateTime<Utc>) -> Result<i64> {
                let row = sqlx::query(
                    "SELECT COUNT(*) AS n FROM timers WHERE state = 'pending' AND due_at <= $1",
                )
                .bind(now)
                .fetch_one(&self.pool)
                .await?;
                Ok(row.try_get("n")?)
            }

            async fn close(&self) {
                self.pool.close().await;
            }
        }
    };
}

pub mod sqlite {
    use std::str::FromStr;
    use std::time::Duration;

    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };

    use super::*;

    pub struct SqliteStore {
        pool: sqlx::SqlitePool,
        backend: Backend,
        /// Transactions begun: the checkpointer waits for a pause in them.
        activity: Arc<AtomicU64>,
    }

    impl SqliteStore {
        pub async fn connect(url: &str) -> Result<Self> {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                // Checkpoints run in the background (below), so a commit does not pay for the
                // checkpoint's fsyncs; this is only the backstop should that fall behind.
                .pragma("wal_autocheckpoint", "40000")
                // Never truncate the WAL in a commit (an ftruncate and fsync of up to 160 MB,
                // 0.1-0.3 s measured): the checkpointer truncates it in a pause instead.
                .pragma("journal_size_limit", "-1");
            if let Some(parent) = options.get_filename().parent()
                && !parent.as_os_str().is_empty()
                && !parent.exists()
            {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Config(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
            // One connection: SQLite has one writer at a time anyway, and a second connection
            // would re-read every page the first one changed (each keeps its own page cache),
            // and hold its own worker thread and cache in memory. Measured in
            // docs/benchmarks.md (relay).
            // A local file needs no liveness ping before each use; the ping is a round trip
            // to the connection's worker thread on every transaction and query.
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .test_before_acquire(false)
                .connect_with(options.clone())
                .await?;
            migrator(&[
                (
                    1,
                    "core",
                    include_str!("../../migrations/sqlite/0001_core.sql"),
                ),
                (
                    2,
                    "oncall",
                    include_str!("../../migrations/sqlite/0002_oncall.sql"),
                ),
                (
                    3,
                    "outbox partial indexes",
                    include_str!("../../migrations/sqlite/0003_outbox_partial_indexes.sql"),
                ),
            ])
            .run(&pool)
            .await?;
            // Checkpoints get a connection of their own: on the pool's one they would hold up
            // every transaction for the checkpoint's fsyncs.
            let checkpointer =
                <sqlx::SqliteConnection as sqlx::Connection>::connect_with(&options).await?;
            let activity: Arc<AtomicU64> = Default::default();
            tokio::spawn(crate::store::sqlite::checkpoint::checkpoints(
                pool.clone(),
                checkpointer,
                activity.clone(),
            ));
            Ok(SqliteStore {
                pool,
                backend: Backend::Sqlite,
                activity,
            })
        }
    }

    // SQLite has no row locks: BEGIN IMMEDIATE takes the write lock up front, so two
    // transactions never both read and then fail to upgrade.
    sql_backend!(
        sqlx::Sqlite,
        sqlx::sqlite::SqliteRow,
        SqliteStore,
        SqliteTx,
        "",
        "",
        "BEGIN IMMEDIATE",
        true
    );
}

pub mod postgres {
    use std::time::Duration;

    use sqlx::postgres::PgPoolOptions;

    use super::*;

    pub struct PgStore {
        pool: sqlx::PgPool,
        backend: Backend,
        activity: Arc<AtomicU64>,
    }

    impl PgStore {
        pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
            let pool = PgPoolOptions::new()
                .max_connections(max_connections.max(1))
                .acquire_timeout(Duration::from_secs(5))
                .connect(url)
                .await?;
            migrator(&[
                (
                    1,
                    "core",
                    include_str!("../../migrations/postgres/0001_core.sql"),
                ),
                (
                    2,
                    "oncall",
                    include_str!("../../migrations/postgres/0002_oncall.sql"),
                ),
                (
                    3,
                    "outbox partial indexes",
                    include_str!("../../migrations/postgres/0003_outbox_partial_indexes.sql"),
                ),
            ])
            .run(&pool)
            .await?;
            Ok(PgStore {
                pool,
                backend: Backend::Postgres,
                activity: Default::default(),
            })
        }
    }

    sql_backend!(
        sqlx::Postgres,
        sqlx::postgres::PgRow,
        PgStore,
        PgTx,
        " FOR UPDATE",
        " FOR UPDATE SKIP LOCKED",
        "BEGIN",
        false
    );
}
