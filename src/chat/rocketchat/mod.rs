//! Rocket.Chat adapter: REST v1 for sending and looking things up, the DDP realtime websocket
//! for receiving, and a backfill over REST after every reconnect so nothing said while Flare
//! was disconnected is lost.
//!
//! Commands are plain messages (`!incident ...`, `!inc ...`) or a mention of the bot followed
//! by a command (`@flare open db down` -> `!incident open db down`). Rocket.Chat slash commands
//! only exist when a server-side app registers them, so they are out of scope.

/// This adapter's section of the configuration (kept with the rest of the configuration).
pub use crate::config::rocketchat as config;
pub mod ddp;
pub mod decode;
mod inbound;
mod outbound;
pub mod rest;
mod rooms;
mod session;
pub mod text;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use config::RocketChatConfig;
use config::Settings;
use decode::SeenMessages;
pub use outbound::message_id_for;
use rest::Rest;
use session::SessionEnd;

use crate::chat::{ChatAdapter, InboundSink, Outbound, PlatformKind, SendError, Sent};
use crate::retry::{Backoff, Policy};

/// How many recent message ids are remembered (edits vs repeats, backfill dedupe).
const SEEN_CAPACITY: usize = 50_000;

#[derive(Debug, Clone)]
struct BotIdentity {
    user_id: String,
    username: String,
}

/// What the receive side remembers across reconnects.
struct InboundState {
    seen: SeenMessages,
    /// Per room: the newest change time seen, where the next backfill starts.
    watermarks: HashMap<String, DateTime<Utc>>,
    /// When the last session's subscriptions became ready (backfill start for quiet rooms).
    last_ready: Option<DateTime<Utc>>,
    /// Deletions already reported (live and backfill may both see one).
    deleted: SeenMessages,
}
pub struct RocketChatAdapter {
    cfg: RocketChatConfig,
    settings: Settings,
    ws_url: String,
    rest: Rest,
    salt: String,
    /// Configured channel (as written in config, `#` stripped) -> room id.
    rooms: RwLock<HashMap<String, String>>,
    /// Room id -> configured channel, as Inbound.channel reports it.
    room_channels: RwLock<HashMap<String, String>>,
    /// Configured channels that do not exist (or the bot cannot see), with the reason.
    unresolved: RwLock<HashMap<String, String>>,
    bot: RwLock<Option<BotIdentity>>,
    /// Ids of messages Flare posted, so their echoes are never emitted.
    sent_ids: Mutex<SeenMessages>,
    inbound: tokio::sync::Mutex<InboundState>,
    connected: crate::chat::OnConnect,
}
impl RocketChatAdapter {
    /// Builds the adapter; no I/O happens until `run` or `send`.
    pub fn new(cfg: RocketChatConfig) -> anyhow::Result<RocketChatAdapter> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let key = format!("rocketchat `{}`", cfg.name);
        let mut problems = Vec::new();
        cfg.validate(&key, &mut problems);
        let settings = cfg.settings(&key, &mut problems);
        let settings = match settings {
            Some(s) if problems.is_empty() => s,
            _ => anyhow::bail!(
                "invalid configuration: {}",
                problems
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        };
        let mut base = url::Url::parse(&cfg.url)?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let mut ws = base.join("websocket")?;
        let scheme = if base.scheme() == "https" {
            "wss"
        } else {
            "ws"
        };
        ws.set_scheme(scheme)
            .map_err(|_| anyhow::anyhow!("cannot derive the websocket URL from {}", cfg.url))?;
        let rest = Rest::new(
            base,
            settings.credentials.clone(),
            settings.request_timeout,
            settings.max_rate_limit_wait,
        )?;
        let salt = cfg.id_salt.clone().unwrap_or_else(|| cfg.name.clone());
        Ok(RocketChatAdapter {
            ws_url: ws.to_string(),
            rest,
            salt,
            settings,
            cfg,
            rooms: RwLock::new(HashMap::new()),
            room_channels: RwLock::new(HashMap::new()),
            unresolved: RwLock::new(HashMap::new()),
            bot: RwLock::new(None),
            sent_ids: Mutex::new(SeenMessages::new(SEEN_CAPACITY)),
            inbound: tokio::sync::Mutex::new(InboundState {
                seen: SeenMessages::new(SEEN_CAPACITY),
                watermarks: HashMap::new(),
                last_ready: None,
                deleted: SeenMessages::new(SEEN_CAPACITY),
            }),
            connected: Default::default(),
        })
    }

    /// The websocket URL derived from the base URL.
    pub fn websocket_url(&self) -> &str {
        &self.ws_url
    }
}

#[async_trait]
impl ChatAdapter for RocketChatAdapter {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    fn kind(&self) -> PlatformKind {
        PlatformKind::RocketChat
    }

    async fn run(self: Arc<Self>, inbound: InboundSink) -> anyhow::Result<()> {
        let mut backoff = Backoff::new(Policy::new(
            self.settings.reconnect_initial,
            self.settings.reconnect_max,
        ));
        loop {
            match self.session(&inbound).await {
                SessionEnd::SinkClosed => return Ok(()),
                SessionEnd::Fatal(reason) => {
                    anyhow::bail!(
                        "rocketchat `{}` ({}): {reason}",
                        self.cfg.name,
                        self.cfg.url
                    )
                }
                SessionEnd::Retry { reason, was_up } => {
                    if was_up {
                        backoff.reset();
                    }
                    let wait = backoff.next_delay();
                    tracing::warn!(
                        platform = %self.cfg.name,
                        wait_ms = wait.as_millis() as u64,
                        "rocketchat disconnected: {reason}; reconnecting"
                    );
                    crate::health::down(self.as_ref(), &format!("disconnected: {reason}"));
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    fn on_connect(&self, hook: Box<dyn Fn() + Send + Sync>) {
        self.connected.set(hook);
    }

    async fn send(&self, msg: &Outbound) -> Result<Sent, SendError> {
        self.send_outbound(msg).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_url_follows_the_base_url() {
        let cfg = |url: &str| RocketChatConfig {
            name: "rc".into(),
            url: url.into(),
            user_id: Some("u".into()),
            token: Some("t".into()),
            ..Default::default()
        };
        let a = RocketChatAdapter::new(cfg("https://chat.example.com")).expect("valid");
        assert_eq!(a.websocket_url(), "wss://chat.example.com/websocket");
        let b = RocketChatAdapter::new(cfg("http://127.0.0.1:3000/rc")).expect("valid");
        assert_eq!(b.websocket_url(), "ws://127.0.0.1:3000/rc/websocket");
    }
}
