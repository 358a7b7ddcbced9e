//! Shared by the benches (each `benches/*.rs` is its own crate and says `mod support;` at
//! its top): the test harness and fakes of `tests/support`, mounted here so that benches and
//! tests drive the same fakes.

// Each bench uses a different part of this tree.
#![allow(dead_code, unused_imports)]

#[path = "../../tests/support/mod.rs"]
pub mod tests;

// `support::fake_slack`, `support::irc`, ... read the same in benches as in tests.
pub use tests::*;
