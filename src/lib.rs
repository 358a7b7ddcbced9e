//! Flare: a self-hosted incident-response chat bot for Rocket.Chat, Slack and IRC.
//!
//! Layers (see docs/architecture.md): `domain` is pure; `engine` decides and records in one
//! transaction; `store` persists; `chat` adapters talk to platforms; `delivery` drains the
//! outbox; `scheduler` fires durable timers; `retry` is the one backoff rule every
//! reconnect and retry loop follows.

pub mod app;
pub mod chat;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod engine;
pub mod health;
pub mod http;
pub mod measure;
pub mod retry;
pub mod scheduler;
pub mod status;
pub mod store;
pub mod wake;
