//! The SQLite backend.

pub(crate) mod batch;
pub(crate) mod checkpoint;
