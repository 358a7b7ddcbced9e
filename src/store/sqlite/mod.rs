//! The SQLite backend (the default): one connection, write transactions begun IMMEDIATE,
//! deferred writes sent as one script (`batch`), and the WAL checkpointed in the background
//! (`checkpoint`).

pub(crate) mod batch;
pub(crate) mod checkpoint;

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};

use super::dialect::{Deferred, Dialect};
use super::migrations::migrator;
use super::pool::SqlStore;
use super::values::{Val, bind_all};
use super::{Backend, Result, StoreError};

pub(crate) struct Sqlite;

pub(crate) type SqliteStore = SqlStore<Sqlite>;

impl Dialect for Sqlite {
    type Db = sqlx::Sqlite;
    type Row = SqliteRow;

    const BACKEND: Backend = Backend::Sqlite;
    // SQLite has no row locks: BEGIN IMMEDIATE takes the write lock up front, so two
    // transactions never both read and then fail to upgrade.
    const FOR_UPDATE: &'static str = "";
    const SKIP_LOCKED: &'static str = "";
    const BEGIN: &'static str = "BEGIN IMMEDIATE";

    fn send<'a>(
        conn: &'a mut sqlx::SqliteConnection,
        begun: &'a mut bool,
        writes: Vec<Deferred>,
        reads: Vec<(&'a str, Vec<Val>)>,
        outbox_ids: &'a mut Vec<i64>,
    ) -> impl Future<Output = Result<Vec<Vec<SqliteRow>>>> + Send + 'a {
        batch::send(conn, begun, writes, reads, outbox_ids)
    }

    fn version_check(id: i64, version: i64) -> Deferred {
        Deferred {
            raises: true,
            ..Deferred::write(
                batch::INCIDENT_VERSION_GUARD,
                vec![id.into(), version.into()],
                false,
            )
        }
    }

    async fn fetch_all<'a>(
        conn: &'a mut sqlx::SqliteConnection,
        sql: &'a str,
        args: &'a [Val],
    ) -> Result<Vec<SqliteRow>> {
        Ok(bind_all(sqlx::query(sql), args).fetch_all(conn).await?)
    }

    async fn execute<'a>(
        conn: &'a mut sqlx::SqliteConnection,
        sql: &'a str,
        args: &'a [Val],
    ) -> Result<u64> {
        Ok(bind_all(sqlx::query(sql), args)
            .execute(conn)
            .await?
            .rows_affected())
    }
}

/// Opens (creating when missing) the SQLite database at `url`, applies the migrations and
/// starts the checkpointer.
pub(crate) async fn connect(url: &str) -> Result<SqliteStore> {
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
        std::fs::create_dir_all(parent)
            .map_err(|e| StoreError::Config(format!("cannot create {}: {e}", parent.display())))?;
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
            include_str!("../../../migrations/sqlite/0001_core.sql"),
        ),
        (
            2,
            "oncall",
            include_str!("../../../migrations/sqlite/0002_oncall.sql"),
        ),
        (
            3,
            "outbox partial indexes",
            include_str!("../../../migrations/sqlite/0003_outbox_partial_indexes.sql"),
        ),
        (
            4,
            "dead letters",
            include_str!("../../../migrations/sqlite/0004_dead_letters.sql"),
        ),
        (
            5,
            "delivery priority",
            include_str!("../../../migrations/sqlite/0005_delivery_priority.sql"),
        ),
        (
            6,
            "published incidents",
            include_str!("../../../migrations/sqlite/0006_published.sql"),
        ),
    ])
    .run(&pool)
    .await?;
    // Checkpoints get a connection of their own: on the pool's one they would hold up
    // every transaction for the checkpoint's fsyncs.
    let checkpointer = <sqlx::SqliteConnection as sqlx::Connection>::connect_with(&options).await?;
    let activity: Arc<AtomicU64> = Default::default();
    tokio::spawn(checkpoint::checkpoints(
        pool.clone(),
        checkpointer,
        activity.clone(),
    ));
    Ok(SqlStore { pool, activity })
}

/// Copies the database at `url` into the new file `dest`: `VACUUM INTO` reads one snapshot,
/// so the copy is consistent while Flare goes on writing.
pub(crate) async fn backup(url: &str, dest: &std::path::Path) -> Result<()> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(10));
    let source = options.get_filename();
    if !source.exists() {
        return Err(StoreError::Config(format!(
            "there is no database at {}",
            source.display()
        )));
    }
    if dest.exists() {
        return Err(StoreError::Config(format!(
            "{} exists already; flare backup never overwrites a file",
            dest.display()
        )));
    }
    let Some(dest_text) = dest.to_str() else {
        return Err(StoreError::Config(format!(
            "{} is not a UTF-8 path",
            dest.display()
        )));
    };
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect_with(&options).await?;
    let copied = sqlx::query("VACUUM INTO $1")
        .bind(dest_text)
        .execute(&mut conn)
        .await;
    let _ = sqlx::Connection::close(conn).await;
    copied?;
    Ok(())
}
