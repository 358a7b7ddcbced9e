//! Test support for the IRC adapter: real servers and scripted people.

// Shared by tests/irc.rs and benches/irc.rs; each uses a different part.
#![allow(dead_code)]

pub mod client;
pub mod proxy;
pub mod server;
