//! Test support for the IRC adapter: real servers and scripted people.

pub mod client;
pub mod proxy;
pub mod server;
