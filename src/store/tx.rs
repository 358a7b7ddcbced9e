//! The transaction, written once for both databases: the statements are the same text, and
//! what differs (sending deferred writes, row locks, beginning) is asked of the `Dialect`.
//! One piece because it is the one `impl Tx`, a method per `Tx` method; the statement texts
//! are in `queries`.

use std::collections::HashMap;
use std::marker::PhantomData;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;

use super::decode::*;
use super::dialect::{Conn, Deferred, Dialect};
use super::queries::*;
use super::values::Val;
use super::*;
use crate::domain::incident::{Incident, TimelineEvent};

/// A transaction on a pooled connection, begun and ended by our own statements so that on
/// SQLite they travel with the others.
///
/// Writes whose results nothing waits for are deferred and sent with the next statement that
/// must run now (a read, or `commit`): on SQLite as one script, so a transaction costs few
/// round trips to the driver's thread (`BEGIN` goes with the first statement, `COMMIT` with
/// the last writes); on PostgreSQL one after the other.
pub(crate) struct SqlTx<D: Dialect> {
    conn: Option<PoolConnection<D::Db>>,
    begun: bool,
    finished: bool,
    deferred: Vec<Deferred>,
    /// Ids of the outbox rows written so far, in the order they were written.
    outbox_ids: Vec<i64>,
    dialect: PhantomData<D>,
}

impl<D: Dialect> Drop for SqlTx<D> {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if !self.begun || self.finished {
            return;
        }
        // Roll back before the connection can be used again: it goes back to the pool only
        // once the task is done (or is closed when there is no runtime left).
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    if D::execute(&mut *conn, "ROLLBACK", &[]).await.is_err() {
                        conn.close_on_drop();
                    }
                });
            }
            Err(_) => conn.close_on_drop(),
        }
    }
}

impl<D: Dialect> SqlTx<D> {
    pub(crate) fn new(conn: PoolConnection<D::Db>) -> Self {
        SqlTx {
            conn: Some(conn),
            begun: false,
            finished: false,
            deferred: Vec::new(),
            outbox_ids: Vec::new(),
            dialect: PhantomData,
        }
    }

    fn db(&mut self) -> Result<&mut Conn<D>> {
        self.conn
            .as_deref_mut()
            .ok_or_else(|| StoreError::Corrupt("the transaction has ended".into()))
    }

    fn defer(&mut self, sql: impl Into<String>, args: Vec<Val>, one_row: bool) {
        self.deferred.push(Deferred::write(sql, args, one_row));
    }

    /// Sends what is pending (`BEGIN`, deferred writes), then `last` if given, and returns
    /// the rows of `last`.
    async fn run(&mut self, last: Option<(&str, Vec<Val>)>) -> Result<Vec<D::Row>> {
        let reads: Vec<(&str, Vec<Val>)> = last.into_iter().collect();
        Ok(self.run_reads(reads).await?.pop().unwrap_or_default())
    }

    /// Sends what is pending, then each of `reads`; returns the rows of each read.
    async fn run_reads(&mut self, reads: Vec<(&str, Vec<Val>)>) -> Result<Vec<Vec<D::Row>>> {
        let writes = std::mem::take(&mut self.deferred);
        let conn = self
            .conn
            .as_deref_mut()
            .ok_or_else(|| StoreError::Corrupt("the transaction has ended".into()))?;
        D::send(conn, &mut self.begun, writes, reads, &mut self.outbox_ids).await
    }

    async fn flush(&mut self) -> Result<()> {
        if self.begun && self.deferred.is_empty() {
            return Ok(());
        }
        self.run(None).await.map(|_| ())
    }

    /// Sends what is pending, then runs `sql` on its own; its rows.
    async fn read_now(&mut self, sql: &str, args: &[Val]) -> Result<Vec<D::Row>> {
        self.flush().await?;
        D::fetch_all(self.db()?, sql, args).await
    }

    /// Sends what is pending, then runs `sql` on its own; how many rows it changed.
    async fn write_now(&mut self, sql: &str, args: &[Val]) -> Result<u64> {
        self.flush().await?;
        D::execute(self.db()?, sql, args).await
    }
}

#[async_trait]
impl<D: Dialect> Tx for SqlTx<D> {
    async fn commit(self: Box<Self>) -> Result<()> {
        self.commit_outbox().await.map(|_| ())
    }

    async fn commit_outbox(mut self: Box<Self>) -> Result<Vec<i64>> {
        if !self.begun && self.deferred.is_empty() {
            // Nothing was read or written.
            self.finished = true;
            return Ok(Vec::new());
        }
        // With the deferred writes (SQLite: in their script).
        self.run(Some(("COMMIT", Vec::new()))).await?;
        self.finished = true;
        Ok(std::mem::take(&mut self.outbox_ids))
    }

    async fn incident(&mut self, id: i64) -> Result<Option<Incident>> {
        let q = incident_for_update(D::FOR_UPDATE);
        let rows = self.run(Some((&q, vec![id.into()]))).await?;
        rows.first().map(incident_from_row).transpose()
    }

    async fn insert_incident(&mut self, n: &NewIncident) -> Result<Incident> {
        let q = insert_incident();
        let args = new_incident_args(n);
        let rows = self.run(Some((&q, args))).await?;
        match rows.first() {
            Some(row) => incident_from_row(row),
            None => Err(StoreError::Corrupt("INSERT returned no incident".into())),
        }
    }

    async fn save_incident(&mut self, i: &mut Incident) -> Result<()> {
        self.defer(UPDATE_INCIDENT, incident_update_args(i), true);
        i.version += 1;
        Ok(())
    }

    async fn open_incidents(&mut self) -> Result<Vec<Incident>> {
        let q = select_open_incidents();
        let rows = self.read_now(&q, &[]).await?;
        rows.iter().map(incident_from_row).collect()
    }

    async fn resolved_incidents(
        &mut self,
        since: DateTime<Utc>,
        limit: i64,
    ) -> Result<(Vec<Incident>, i64)> {
        let q = select_resolved_incidents();
        let rows = self.read_now(&q, &[since.into(), limit.into()]).await?;
        let listed = rows
            .iter()
            .map(incident_from_row)
            .collect::<Result<Vec<_>>>()?;
        let total = self.read_now(RESOLVED_COUNT, &[since.into()]).await?;
        Ok((listed, one(&total)?.int("n")?))
    }

    async fn published_incidents(&mut self, limit: i64) -> Result<Vec<Incident>> {
        let q = select_published_incidents();
        let rows = self.read_now(&q, &[limit.into()]).await?;
        rows.iter().map(incident_from_row).collect()
    }

    async fn incident_count(&mut self) -> Result<i64> {
        let rows = self.read_now(INCIDENT_COUNT, &[]).await?;
        one(&rows)?.int("n")
    }

    async fn add_timeline(&mut self, ev: &TimelineEvent) -> Result<()> {
        self.defer(ADD_TIMELINE, timeline_args(ev), false);
        Ok(())
    }

    async fn timeline(&mut self, incident_id: i64) -> Result<Vec<TimelineEvent>> {
        let rows = self.read_now(TIMELINE_OF, &[incident_id.into()]).await?;
        rows.iter().map(timeline_from_row).collect()
    }

    async fn has_timeline(&mut self, incident_id: i64, kind: &str) -> Result<bool> {
        let rows = self
            .read_now(HAS_TIMELINE, &[incident_id.into(), kind.into()])
            .await?;
        Ok(!rows.is_empty())
    }

    async fn has_timeline_by(&mut self, incident_id: i64, kind: &str, actor: &str) -> Result<bool> {
        let rows = self
            .read_now(
                HAS_TIMELINE_BY,
                &[incident_id.into(), kind.into(), actor.into()],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    async fn record_message(&mut self, m: &MessageRecord) -> Result<Option<i64>> {
        let rows = self.run(Some((RECORD_MESSAGE, message_args(m)))).await?;
        rows.first().map(|r| r.int("id")).transpose()
    }

    async fn record_messages(&mut self, ms: &[MessageRecord]) -> Result<Vec<Option<i64>>> {
        let mut ids: HashMap<(String, String, String), i64> = HashMap::new();
        let mut queries = Vec::new();
        for chunk in pow2_chunks(ms, 64) {
            let q = format!(
                "INSERT INTO messages (platform, channel, message_id, thread, incident_id, \
                 author_id, author_display, text, sent_at, received_at) VALUES {} \
                 ON CONFLICT (platform, channel, message_id) DO NOTHING \
                 RETURNING id, platform, channel, message_id",
                values_rows(chunk.len(), 10, 1, "")
            );
            let args: Vec<Val> = chunk.iter().flat_map(message_args).collect();
            queries.push((q, args));
        }
        let reads = queries
            .iter()
            .map(|(q, a)| (q.as_str(), a.clone()))
            .collect();
        for rows in self.run_reads(reads).await? {
            for r in rows {
                ids.insert(
                    (
                        r.text("platform")?,
                        r.text("channel")?,
                        r.text("message_id")?,
                    ),
                    r.int("id")?,
                );
            }
        }
        // The first of two equal keys was the one inserted; the second is a duplicate.
        Ok(ms
            .iter()
            .map(|m| ids.remove(&(m.platform.clone(), m.channel.clone(), m.message_id.clone())))
            .collect())
    }

    async fn forget_messages(&mut self, ids: &[i64]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let q = format!(
            "DELETE FROM messages WHERE id IN ({})",
            placeholders.join(", ")
        );
        self.defer(q, ids.iter().map(|id| Val::from(*id)).collect(), false);
        Ok(())
    }

    async fn record_new_message(&mut self, m: &MessageRecord) -> Result<()> {
        self.defer(RECORD_NEW_MESSAGE, message_args(m), true);
        Ok(())
    }

    async fn expect_incident_version(&mut self, id: i64, version: i64) -> Result<()> {
        self.deferred.push(D::version_check(id, version));
        Ok(())
    }

    async fn record_message_reading(
        &mut self,
        m: &MessageRecord,
        incident: Option<i64>,
        threads_of: Option<i64>,
    ) -> Result<(Option<i64>, Option<Incident>, Option<Vec<ThreadRow>>)> {
        let incident_q = incident_for_update(D::FOR_UPDATE);
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
            .map(|r| r.int("id"))
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
        let q = select_message();
        let rows = self
            .read_now(&q, &[platform.into(), channel.into(), message_id.into()])
            .await?;
        rows.first().map(message_from_row).transpose()
    }

    async fn set_message_incident(&mut self, id: i64, incident_id: i64) -> Result<()> {
        self.defer(
            SET_MESSAGE_INCIDENT,
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
        // The thread root itself, a mirrored copy replied to, or an inbound message replied
        // to.
        let rows = self
            .run(Some((
                INCIDENT_FOR_THREAD,
                vec![platform.into(), channel.into(), thread_ref.into()],
            )))
            .await?;
        rows.first().map(|r| r.int("incident_id")).transpose()
    }

    async fn threads(&mut self, incident_id: i64) -> Result<Vec<ThreadRow>> {
        let rows = self
            .run(Some((THREADS_OF, vec![incident_id.into()])))
            .await?;
        rows.iter().map(thread_from_row).collect()
    }

    async fn thread_root_in_flight(&mut self, platform: &str, channel: &str) -> Result<bool> {
        let rows = self
            .read_now(THREAD_ROOT_IN_FLIGHT, &[platform.into(), channel.into()])
            .await?;
        Ok(!rows.is_empty())
    }

    async fn insert_thread(&mut self, t: &ThreadRow) -> Result<()> {
        self.defer(INSERT_THREAD, thread_args(t), false);
        Ok(())
    }

    async fn enqueue(&mut self, d: &NewDelivery, not_before: DateTime<Utc>) -> Result<i64> {
        let (q, args) = insert_deliveries(std::slice::from_ref(d), not_before);
        let rows = self.run(Some((&q, args))).await?;
        match rows.first() {
            Some(r) => {
                let id = r.int("id")?;
                self.outbox_ids.push(id);
                Ok(id)
            }
            None => Err(StoreError::Corrupt("INSERT returned no id".into())),
        }
    }

    async fn enqueue_many(&mut self, ds: &[NewDelivery], not_before: DateTime<Utc>) -> Result<()> {
        // Power-of-two chunks: few distinct statement texts for the statement cache.
        for chunk in pow2_chunks(ds, 64) {
            let (sql, args) = insert_deliveries(chunk, not_before);
            self.deferred.push(Deferred {
                outbox: true,
                ..Deferred::write(sql, args, false)
            });
        }
        Ok(())
    }

    async fn copies_of(&mut self, source_message: i64) -> Result<Vec<Delivery>> {
        let q = select_copies();
        let rows = self.read_now(&q, &[source_message.into()]).await?;
        rows.iter().map(delivery_from_row).collect()
    }

    async fn failed_deliveries(&mut self, incident_id: i64) -> Result<Vec<Delivery>> {
        let q = select_failed_deliveries();
        let rows = self.read_now(&q, &[incident_id.into()]).await?;
        rows.iter().map(delivery_from_row).collect()
    }

    async fn summarise_deliveries(&mut self, ids: &[i64]) -> Result<()> {
        for chunk in ids.chunks(500) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let q = format!(
                "UPDATE deliveries SET status = 'summarised', last_error = NULL \
                 WHERE status = 'pending' AND id IN ({})",
                placeholders.join(", ")
            );
            self.defer(q, chunk.iter().map(|id| Val::from(*id)).collect(), false);
        }
        Ok(())
    }

    async fn delivery_counts(&mut self, incident_id: i64) -> Result<DeliveryCounts> {
        let rows = self
            .read_now(DELIVERY_COUNTS, &[incident_id.into()])
            .await?;
        let mut c = DeliveryCounts::default();
        for r in rows {
            let n = r.int("n")?;
            match DeliveryStatus::parse(&r.text("status")?)? {
                DeliveryStatus::Pending => c.pending = n,
                DeliveryStatus::Sent => c.sent = n,
                DeliveryStatus::Failed => c.failed = n,
                DeliveryStatus::Summarised => c.summarised = n,
            }
        }
        Ok(c)
    }

    async fn add_timer(&mut self, t: &NewTimer) -> Result<i64> {
        let rows = self
            .read_now(
                ADD_TIMER,
                &[
                    t.incident_id.into(),
                    (&t.kind).into(),
                    t.due_at.into(),
                    (&t.payload).into(),
                ],
            )
            .await?;
        one(&rows)?.int("id")
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

    async fn reset_timer(
        &mut self,
        incident_id: i64,
        kind: &str,
        due_at: DateTime<Utc>,
    ) -> Result<()> {
        // Move the pending one, or add it when there is none.
        self.defer(
            MOVE_PENDING_TIMER,
            vec![incident_id.into(), kind.into(), due_at.into()],
            false,
        );
        self.defer(
            ADD_TIMER_UNLESS_PENDING,
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
        self.write_now(
            MOVE_TIMERS,
            &[due_at.into(), incident_id.into(), kind.into()],
        )
        .await
    }

    async fn cancel_timers(&mut self, incident_id: i64, kinds: &[&str]) -> Result<()> {
        if kinds.is_empty() {
            return Ok(());
        }
        let placeholders: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 2)).collect();
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
        // Two statements rather than `$1 IS NULL OR ...`, which SQLite cannot index.
        let rows = match incident_id {
            Some(id) => {
                let q = select_pending_timers_of();
                self.read_now(&q, &[id.into()]).await?
            }
            None => {
                let q = select_pending_timers();
                self.read_now(&q, &[]).await?
            }
        };
        rows.iter().map(timer_from_row).collect()
    }

    async fn claim_due_timers(&mut self, now: DateTime<Utc>, limit: i64) -> Result<Vec<Timer>> {
        let q = format!(
            "SELECT {TIMER_COLUMNS} FROM timers WHERE state = 'pending' AND due_at <= $1 \
             ORDER BY due_at, id LIMIT $2{}",
            D::SKIP_LOCKED
        );
        let rows = self.read_now(&q, &[now.into(), limit.into()]).await?;
        rows.iter().map(timer_from_row).collect()
    }

    async fn mark_timer_fired(&mut self, id: i64, at: DateTime<Utc>, late_ms: i64) -> Result<()> {
        self.defer(
            MARK_TIMER_FIRED,
            vec![at.into(), late_ms.into(), id.into()],
            false,
        );
        Ok(())
    }

    async fn ensure_timer(&mut self, t: &NewTimer) -> Result<bool> {
        let n = self
            .write_now(
                ENSURE_TIMER,
                &[(&t.kind).into(), t.due_at.into(), (&t.payload).into()],
            )
            .await?;
        Ok(n == 1)
    }

    async fn fired_timers(&mut self, incident_id: Option<i64>) -> Result<Vec<Timer>> {
        let q = select_fired_timers();
        let rows = self.read_now(&q, &[incident_id.into()]).await?;
        rows.iter().map(timer_from_row).collect()
    }

    async fn add_oncall_override(&mut self, o: &OncallOverride) -> Result<i64> {
        let rows = self
            .read_now(
                ADD_ONCALL_OVERRIDE,
                &[
                    (&o.rotation).into(),
                    (&o.person).into(),
                    o.starts_at.into(),
                    o.ends_at.into(),
                    (&o.created_by).into(),
                    o.created_at.into(),
                ],
            )
            .await?;
        one(&rows)?.int("id")
    }

    async fn oncall_overrides(
        &mut self,
        rotation: &str,
        from: DateTime<Utc>,
    ) -> Result<Vec<OncallOverride>> {
        let rows = self
            .read_now(ONCALL_OVERRIDES, &[rotation.into(), from.into()])
            .await?;
        rows.iter().map(oncall_override_from_row).collect()
    }
}
