//! The PostgreSQL backend, for teams that run several replicas: a pool of connections, row
//! locks (`FOR UPDATE`, `SKIP LOCKED`), and deferred writes sent one after the other.

use std::str::FromStr;
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions, PgRow};

use super::decode::Columns;
use super::dialect::{Deferred, Dialect};
use super::migrations::migrator;
use super::pool::SqlStore;
use super::values::{Val, bind_all};
use super::{Backend, Result, StoreError};

pub(crate) struct Postgres;

pub(crate) type PgStore = SqlStore<Postgres>;

impl Dialect for Postgres {
    type Db = sqlx::Postgres;
    type Row = PgRow;

    const BACKEND: Backend = Backend::Postgres;
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
    const BEGIN: &'static str = "BEGIN";

    async fn send<'a>(
        conn: &'a mut PgConnection,
        begun: &'a mut bool,
        writes: Vec<Deferred>,
        reads: Vec<(&'a str, Vec<Val>)>,
        outbox_ids: &'a mut Vec<i64>,
    ) -> Result<Vec<Vec<PgRow>>> {
        if !*begun {
            Self::execute(conn, Self::BEGIN, &[]).await?;
            *begun = true;
        }
        for op in &writes {
            if op.outbox {
                for r in Self::fetch_all(conn, &op.sql, &op.args).await? {
                    outbox_ids.push(r.int("id")?);
                }
                continue;
            }
            let changed = Self::execute(conn, &op.sql, &op.args).await?;
            if op.one_row && changed != 1 {
                return Err(StoreError::Conflict);
            }
        }
        let mut rows = Vec::with_capacity(reads.len());
        for (q, a) in reads {
            rows.push(Self::fetch_all(conn, q, &a).await?);
        }
        Ok(rows)
    }

    fn version_check(id: i64, version: i64) -> Deferred {
        // A SELECT's row count is its `rows_affected`.
        Deferred::write(
            "SELECT id FROM incidents WHERE id = $1 AND version = $2 FOR UPDATE",
            vec![id.into(), version.into()],
            true,
        )
    }

    async fn fetch_all<'a>(
        conn: &'a mut PgConnection,
        sql: &'a str,
        args: &'a [Val],
    ) -> Result<Vec<PgRow>> {
        Ok(bind_all(sqlx::query(sql), args).fetch_all(conn).await?)
    }

    async fn execute<'a>(conn: &'a mut PgConnection, sql: &'a str, args: &'a [Val]) -> Result<u64> {
        Ok(bind_all(sqlx::query(sql), args)
            .execute(conn)
            .await?
            .rows_affected())
    }
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects a pool of up to `max_connections` and applies the migrations.
pub(crate) async fn connect(url: &str, max_connections: u32) -> Result<PgStore> {
    let options = PgConnectOptions::from_str(url)?;
    // One direct connection first: the pool would retry until its timeout and report only
    // "pool timed out", where this names the real cause (connection refused, no such host,
    // password authentication failed).
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options)).await {
        Ok(conn) => conn?.close().await?,
        Err(_) => {
            return Err(StoreError::Config(format!(
                "no answer from {}:{} within {} s",
                options.get_host(),
                options.get_port(),
                CONNECT_TIMEOUT.as_secs()
            )));
        }
    }
    let pool = PgPoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
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
        (
            4,
            "dead letters",
            include_str!("../../migrations/postgres/0004_dead_letters.sql"),
        ),
        (
            5,
            "delivery priority",
            include_str!("../../migrations/postgres/0005_delivery_priority.sql"),
        ),
        (
            6,
            "published incidents",
            include_str!("../../migrations/postgres/0006_published.sql"),
        ),
    ])
    .run(&pool)
    .await?;
    Ok(SqlStore {
        pool,
        activity: Default::default(),
    })
}
