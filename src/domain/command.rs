//! Command grammar (skeleton).

/// Commands that `commands.responders_only` may restrict.
pub const RESTRICTABLE: &[&str] = &[
    "open",
    "ack",
    "update",
    "status",
    "commander",
    "resolve",
    "reopen",
];
