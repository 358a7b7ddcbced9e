//! Shared by the benches (each `benches/*.rs` is its own crate and says `mod support;` at
//! its top): the size switch, the statistics, and the test harness and fakes of
//! `tests/support`, mounted here so that benches and tests drive the same fakes.

// Each bench uses a different part of this tree.
#![allow(dead_code, unused_imports)]

pub mod stats;

#[path = "../../tests/support/mod.rs"]
pub mod tests;

// `support::fake_slack`, `support::irc`, ... read the same in benches as in tests.
pub use tests::*;

/// Full sizes under `cargo bench`; a quick smoke run under `cargo test --all-targets`, which
/// runs each bench without `--bench`.
pub fn full() -> bool {
    std::env::args().any(|a| a == "--bench")
}
