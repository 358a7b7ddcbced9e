//! The store's methods that run outside the engine's transactions (the delivery worker's and
//! the scheduler's), written once for both databases.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::decode::*;
use super::dialect::Dialect;
use super::queries::*;
use super::tx::SqlTx;
use super::values::Val;
use super::*;

pub(crate) struct SqlStore<D: Dialect> {
    pub(crate) pool: sqlx::Pool<D::Db>,
    /// Transactions begun: the SQLite checkpointer waits for a pause in them.
    pub(crate) activity: Arc<AtomicU64>,
}

impl<D: Dialect> SqlStore<D> {
    /// Runs one statement on a connection of the pool; its rows.
    async fn fetch_all(&self, sql: &str, args: &[Val]) -> Result<Vec<D::Row>> {
        let mut conn = self.pool.acquire().await?;
        D::fetch_all(&mut *conn, sql, args).await
    }

    /// Runs one statement on a connection of the pool; how many rows it changed.
    async fn execute(&self, sql: &str, args: &[Val]) -> Result<u64> {
        let mut conn = self.pool.acquire().await?;
        D::execute(&mut *conn, sql, args).await
    }
}

#[async_trait]
impl<D: Dialect> Store for SqlStore<D> {
    fn backend(&self) -> Backend {
        D::BACKEND
    }

    async fn begin(&self) -> Result<Box<dyn Tx>> {
        self.activity.fetch_add(1, Ordering::Relaxed);
        let conn = self.pool.acquire().await?;
        Ok(Box::new(SqlTx::<D>::new(conn)))
    }

    async fn pending_deliveries(&self, platform: &str, limit: i64) -> Result<Vec<Delivery>> {
        let q = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries \
             WHERE platform = $1 AND status = 'pending' ORDER BY id LIMIT $2"
        );
        let rows = self.fetch_all(&q, &[platform.into(), limit.into()]).await?;
        rows.iter().map(delivery_from_row).collect()
    }

    async fn delivery(&self, id: i64) -> Result<Option<Delivery>> {
        let q = format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = $1");
        let rows = self.fetch_all(&q, &[id.into()]).await?;
        rows.first().map(delivery_from_row).transpose()
    }

    async fn thread(
        &self,
        incident_id: i64,
        platform: &str,
        channel: &str,
    ) -> Result<Option<ThreadRow>> {
        let rows = self
            .fetch_all(
                THREAD,
                &[incident_id.into(), platform.into(), channel.into()],
            )
            .await?;
        rows.first().map(thread_from_row).transpose()
    }

    async fn mark_sent(
        &self,
        id: i64,
        remote_id: &str,
        thread_ref: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let sent = [remote_id.into(), at.into(), id.into()];
        let Some(thread_ref) = thread_ref else {
            // One statement needs no transaction (and saves two round trips).
            self.execute(MARK_SENT, &sent).await?;
            return Ok(());
        };
        let mut tx = self.pool.begin_with(D::BEGIN).await?;
        D::execute(&mut *tx, MARK_SENT, &sent).await?;
        D::execute(&mut *tx, SET_THREAD_REF, &[thread_ref.into(), id.into()]).await?;
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
            let mut args: Vec<Val> = Vec::with_capacity(1 + 2 * n);
            args.push(at.into());
            for (id, remote) in chunk {
                args.push((*id).into());
                args.push(remote.into());
            }
            self.execute(&q, &args).await?;
        }
        Ok(())
    }

    async fn mark_retry(&self, id: i64, error: &str, next_at: DateTime<Utc>) -> Result<()> {
        self.execute(MARK_RETRY, &[error.into(), next_at.into(), id.into()])
            .await?;
        Ok(())
    }

    async fn mark_failed(&self, id: i64, error: &str) -> Result<()> {
        self.execute(MARK_FAILED, &[error.into(), id.into()])
            .await?;
        Ok(())
    }

    async fn next_timer_due(&self) -> Result<Option<DateTime<Utc>>> {
        let rows = self.fetch_all(NEXT_TIMER_DUE, &[]).await?;
        rows.first().map(|r| r.time("due_at")).transpose()
    }

    async fn overdue_timers(&self, now: DateTime<Utc>) -> Result<i64> {
        let rows = self.fetch_all(OVERDUE_TIMERS, &[now.into()]).await?;
        one(&rows)?.int("n")
    }

    async fn add_dead_letter(&self, d: &DeadLetter, reply: Option<&NewDelivery>) -> Result<()> {
        self.insert_dead_letter(d, reply).await
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetterRow>> {
        self.read_dead_letters().await
    }

    async fn ping(&self) -> Result<()> {
        self.fetch_all(PING, &[]).await.map(drop)
    }

    async fn gauges(&self) -> Result<Gauges> {
        let mut g = Gauges::default();
        for r in self.fetch_all(OPEN_BY_SEVERITY, &[]).await? {
            g.open_by_severity.push((r.text("severity")?, r.int("n")?));
        }
        for r in self.fetch_all(DELIVERIES_BY_STATE, &[]).await? {
            g.deliveries
                .push((r.text("platform")?, r.text("status")?, r.int("n")?));
        }
        for r in self.fetch_all(OLDEST_PENDING, &[]).await? {
            g.oldest_pending
                .push((r.text("platform")?, r.time("created_at")?));
        }
        Ok(g)
    }

    async fn close(&self) {
        // SQLite: everything into the database file and the WAL cut to nothing, so that the
        // file alone is a complete copy once Flare has stopped.
        if D::BACKEND == Backend::Sqlite {
            let done = match self.pool.acquire().await {
                Ok(mut conn) => {
                    D::execute(&mut *conn, "PRAGMA wal_checkpoint(TRUNCATE)", &[]).await
                }
                Err(e) => Err(e.into()),
            };
            if let Err(e) = done {
                tracing::warn!(error = %e, "could not checkpoint the WAL at shutdown; the data is safe in flare.db-wal");
            }
        }
        self.pool.close().await;
    }
}
