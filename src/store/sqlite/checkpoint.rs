//! The WAL checkpointer: checkpoints on a connection of its own, in pauses between
//! transactions, so that commits do not pay for them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Copies the WAL into the database every second on a connection of its own, without
/// blocking writers (PASSIVE), until the pool closes.
/// Checkpoints the WAL in a pause between transactions (none begun for a tick), or after
/// `CHECKPOINT_BUSY` transactions without a pause: a checkpoint's fsyncs slow the writes
/// running beside it, and the first write after it pays an fsync to restart the WAL.
pub(crate) async fn checkpoints(
    pool: sqlx::SqlitePool,
    mut conn: sqlx::SqliteConnection,
    activity: Arc<AtomicU64>,
) {
    // From the store's creation (the count was 0), not from this task's first poll, which
    // may come after the first transactions.
    let mut seen = 0;
    let mut checkpointed = 0;
    while !pool.is_closed() {
        tokio::time::sleep(CHECKPOINT_TICK).await;
        if pool.is_closed() {
            break;
        }
        let now = activity.load(Ordering::Relaxed);
        let paused = now == seen && now != checkpointed;
        seen = now;
        if !paused && now.saturating_sub(checkpointed) < CHECKPOINT_BUSY {
            continue;
        }
        checkpointed = now;
        // In a pause the WAL is also cut back to nothing; while busy, writers go on beside
        // the checkpoint and the WAL restarts from its beginning once it is done.
        let mode = if paused {
            "PRAGMA wal_checkpoint(TRUNCATE)"
        } else {
            "PRAGMA wal_checkpoint(PASSIVE)"
        };
        if let Err(e) = sqlx::query(mode).execute(&mut conn).await {
            tracing::debug!(error = %e, "WAL checkpoint failed; the next one will try again");
            continue;
        }
        if paused && let Err(e) = restart_wal(&mut conn).await {
            tracing::debug!(error = %e, "could not restart the WAL; the next commit will");
        }
    }
    let _ = sqlx::Connection::close(conn).await;
}

/// Starts the WAL again with a write of this connection's own, so that the next commit
/// does not. In `synchronous = NORMAL` a commit never syncs, except the one that writes
/// the first frame of a new WAL: that one also syncs the WAL's header. After a checkpoint
/// in a pause, that was the next message's commit, typically a person's line after a
/// quiet spell, which waited for an fsync. The write sets `user_version` to what it is.
async fn restart_wal(conn: &mut sqlx::SqliteConnection) -> std::result::Result<(), sqlx::Error> {
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut *conn)
        .await?;
    sqlx::query(&format!("PRAGMA user_version = {version}"))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

const CHECKPOINT_TICK: Duration = Duration::from_millis(500);
/// Well before the WAL reaches `wal_autocheckpoint` (40,000 pages), which would checkpoint
/// inside a commit.
const CHECKPOINT_BUSY: u64 = 500;
