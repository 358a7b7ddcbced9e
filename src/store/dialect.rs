//! What differs between the two databases. Everything else (the statements, the transaction,
//! the pool's methods) is written once over this trait.

use std::future::Future;

use super::decode::Columns;
use super::values::Val;
use super::{Backend, Result};

/// A database connection of dialect `D`.
pub(crate) type Conn<D> = <<D as Dialect>::Db as sqlx::Database>::Connection;

/// A write whose result nothing waits for, kept until the transaction next reads or commits.
pub(crate) struct Deferred {
    pub sql: String,
    pub args: Vec<Val>,
    /// Must change exactly one row, or the transaction fails with `Conflict` (the optimistic
    /// version check of an incident update).
    pub one_row: bool,
    /// An outbox insert: its `RETURNING id` rows are the ids of the new deliveries.
    pub outbox: bool,
    /// May fail its script with "integer overflow", which means `Conflict` (SQLite).
    pub raises: bool,
}

impl Deferred {
    pub fn write(sql: impl Into<String>, args: Vec<Val>, one_row: bool) -> Self {
        Deferred {
            sql: sql.into(),
            args,
            one_row,
            outbox: false,
            raises: false,
        }
    }
}

pub(crate) trait Dialect: Send + Sync + 'static {
    type Db: sqlx::Database;
    type Row: Columns + Send + Sync + 'static;

    const BACKEND: Backend;
    /// Ends a read of an incident the transaction may change: locks its row where the
    /// database has row locks.
    const FOR_UPDATE: &'static str;
    /// Ends the claim of due timers: replicas claim different ones.
    const SKIP_LOCKED: &'static str;
    /// Begins a write transaction.
    const BEGIN: &'static str;

    /// Sends `BEGIN` unless `*begun`, then `writes`, then each of `reads`; returns the rows
    /// of each read and adds the ids of the outbox rows written to `outbox_ids`.
    fn send<'a>(
        conn: &'a mut Conn<Self>,
        begun: &'a mut bool,
        writes: Vec<Deferred>,
        reads: Vec<(&'a str, Vec<Val>)>,
        outbox_ids: &'a mut Vec<i64>,
    ) -> impl Future<Output = Result<Vec<Vec<Self::Row>>>> + Send + 'a;

    /// The deferred check behind `Tx::expect_incident_version`.
    fn version_check(id: i64, version: i64) -> Deferred;

    /// Runs one statement now; its rows.
    fn fetch_all<'a>(
        conn: &'a mut Conn<Self>,
        sql: &'a str,
        args: &'a [Val],
    ) -> impl Future<Output = Result<Vec<Self::Row>>> + Send + 'a;

    /// Runs one statement now; how many rows it changed.
    fn execute<'a>(
        conn: &'a mut Conn<Self>,
        sql: &'a str,
        args: &'a [Val],
    ) -> impl Future<Output = Result<u64>> + Send + 'a;
}
