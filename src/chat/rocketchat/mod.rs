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
pub mod rest;
pub mod text;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

pub use config::RocketChatConfig;
use config::Settings;
use ddp::{DdpConnection, DdpError, Event};
use decode::{Novelty, RcMessage, SeenMessages, command_text, decode_message};
use rest::{Rest, RestError};

use crate::chat::text::neutralise_controls;
use crate::chat::{
    Author, ChatAdapter, Inbound, InboundKind, InboundSink, Outbound, PlatformKind, SendError,
    Sent, Style,
};
use crate::retry::{Backoff, Policy};

/// How many recent message ids are remembered (edits vs repeats, backfill dedupe).
const SEEN_CAPACITY: usize = 50_000;
/// Page size for backfill (Rocket.Chat's default upper count limit is 100).
const BACKFILL_PAGE: usize = 100;
/// Backfill asks for a little more than the gap: clocks and `_updatedAt` are not exact, and
/// the dedupe drops what was already emitted.
const BACKFILL_MARGIN: chrono::TimeDelta = chrono::TimeDelta::seconds(2);
/// A quiet websocket is pinged after this long, and dropped after twice this long.
const IDLE: Duration = Duration::from_secs(30);
/// The alphabet of Meteor's `Random.id()`, which Rocket.Chat message ids use.
const ID_ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz";

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

/// What a backfill found: changed messages oldest first, and deletions `(rid, _id, when)`.
type Backfill = (Vec<RcMessage>, Vec<(String, String, DateTime<Utc>)>);

/// Why one connected session ended.
enum SessionEnd {
    SinkClosed,
    Fatal(String),
    Retry { reason: String, was_up: bool },
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
}

/// Stops the websocket reader when its session ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn channel_key(channel: &str) -> String {
    channel.trim().trim_start_matches('#').to_string()
}

fn iso(d: DateTime<Utc>) -> String {
    d.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A deterministic Rocket.Chat message id for one delivery (and part of a split message), so a
/// retried send reuses the id and the server refuses the duplicate.
pub fn message_id_for(salt: &str, delivery_id: i64, part: usize) -> String {
    let digest = Sha256::digest(format!("flare:{salt}:{delivery_id}:{part}").as_bytes());
    digest
        .iter()
        .take(17)
        .map(|b| ID_ALPHABET[*b as usize % ID_ALPHABET.len()] as char)
        .collect()
}

fn is_duplicate_id(e: &RestError) -> bool {
    match e {
        RestError::Rejected { error, .. } => {
            let lower = error.to_lowercase();
            lower.contains("e11000")
                || lower.contains("duplicate")
                || lower.contains("already exists")
                || e.error_type().as_deref() == Some("error-message-already-exists")
        }
        _ => false,
    }
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
        })
    }

    /// The websocket URL derived from the base URL.
    pub fn websocket_url(&self) -> &str {
        &self.ws_url
    }

    /// Configured channels that could not be found at start, each with an error naming this
    /// server and the room.
    pub fn unresolved_channels(&self) -> Vec<String> {
        self.unresolved
            .read()
            .map(|u| u.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The room id a configured channel resolved to.
    pub fn room_id(&self, channel: &str) -> Option<String> {
        self.rooms.read().ok()?.get(&channel_key(channel)).cloned()
    }

    fn bot(&self) -> Option<BotIdentity> {
        self.bot.read().ok()?.clone()
    }

    /// Who the bot is (`/api/v1/me`): its user id marks its own messages, its username makes
    /// `@bot open ...` a command.
    async fn identify(&self) -> Result<BotIdentity, RestError> {
        if let Some(b) = self.bot() {
            return Ok(b);
        }
        let me = self.rest.get("me", &[]).await?;
        let (Some(user_id), Some(username)) = (me["_id"].as_str(), me["username"].as_str()) else {
            return Err(RestError::Malformed("/me without _id or username".into()));
        };
        let b = BotIdentity {
            user_id: user_id.to_string(),
            username: username.to_string(),
        };
        if let Ok(mut g) = self.bot.write() {
            *g = Some(b.clone());
        }
        Ok(b)
    }

    /// Looks a configured channel up by room id, then by name.
    async fn resolve_room(&self, channel: &str) -> Result<String, RestError> {
        let key = channel_key(channel);
        if let Some(rid) = self.room_id(&key) {
            return Ok(rid);
        }
        let mut last = None;
        for param in ["roomId", "roomName"] {
            match self.rest.get("rooms.info", &[(param, key.clone())]).await {
                Ok(v) => {
                    if let Some(rid) = v["room"]["_id"].as_str() {
                        let rid = rid.to_string();
                        if let Ok(mut m) = self.rooms.write() {
                            m.insert(key.clone(), rid.clone());
                        }
                        if let Ok(mut m) = self.room_channels.write() {
                            m.insert(rid.clone(), channel.trim().to_string());
                        }
                        if let Ok(mut u) = self.unresolved.write() {
                            u.remove(&key);
                        }
                        return Ok(rid);
                    }
                }
                Err(e @ RestError::Rejected { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(RestError::Malformed("rooms.info without room".into())))
    }

    /// Resolves every configured channel; an unknown room is reported and skipped.
    async fn resolve_channels(&self) -> Result<Vec<String>, RestError> {
        let mut rids = Vec::new();
        for c in &self.cfg.channels {
            match self.resolve_room(&c.id).await {
                Ok(rid) => rids.push(rid),
                Err(e @ RestError::Rejected { .. }) => {
                    let msg = format!(
                        "rocketchat `{}`: room `{}` not found or not visible to the bot ({e}); \
                         the other rooms keep working",
                        self.cfg.name, c.id
                    );
                    tracing::error!("{msg}");
                    if let Ok(mut u) = self.unresolved.write() {
                        u.insert(channel_key(&c.id), msg);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(rids)
    }

    fn session_error(&self, e: RestError, was_up: bool) -> SessionEnd {
        match e {
            RestError::Unauthorized(m) => SessionEnd::Fatal(format!(
                "credentials refused: {m} (check user_id/token or username/password)"
            )),
            RestError::TotpRequired => SessionEnd::Fatal(e.to_string()),
            e => SessionEnd::Retry {
                reason: e.to_string(),
                was_up,
            },
        }
    }

    /// One connection: identify, resolve rooms, connect, log in, subscribe, backfill, receive.
    async fn session(&self, sink: &InboundSink) -> SessionEnd {
        let bot = match self.identify().await {
            Ok(b) => b,
            Err(e) => return self.session_error(e, false),
        };
        let rids = match self.resolve_channels().await {
            Ok(r) => r,
            Err(e) => return self.session_error(e, false),
        };
        let mut streams: Vec<(&str, String)> = if self.cfg.all_rooms || self.cfg.channels.is_empty()
        {
            vec![("stream-room-messages", "__my_messages__".to_string())]
        } else if rids.is_empty() {
            return SessionEnd::Fatal("none of the configured rooms exists".into());
        } else {
            rids.iter()
                .map(|r| ("stream-room-messages", r.clone()))
                .collect()
        };
        streams.extend(
            rids.iter()
                .map(|r| ("stream-notify-room", format!("{r}/deleteMessage"))),
        );
        let timeout = self.settings.request_timeout;
        let mut conn = match DdpConnection::connect(&self.ws_url, timeout, IDLE).await {
            Ok(c) => c,
            Err(e) => {
                return SessionEnd::Retry {
                    reason: e.to_string(),
                    was_up: false,
                };
            }
        };
        let session = match self.rest.session().await {
            Ok(s) => s,
            Err(e) => return self.session_error(e, false),
        };
        match conn.login(&session.token, timeout).await {
            Ok(()) => {}
            Err(DdpError::LoginRefused(reason)) if self.rest.uses_password() => {
                // A login token can expire; log in over REST again on the next attempt.
                self.rest.forget_session().await;
                return SessionEnd::Retry {
                    reason: format!("realtime login refused: {reason}"),
                    was_up: false,
                };
            }
            Err(DdpError::LoginRefused(reason)) => {
                return SessionEnd::Fatal(format!(
                    "realtime login with the personal access token refused: {reason}"
                ));
            }
            Err(e) => {
                return SessionEnd::Retry {
                    reason: e.to_string(),
                    was_up: false,
                };
            }
        }
        match conn.subscribe(&streams, timeout).await {
            Ok(refused) => {
                for stream in refused {
                    tracing::error!(
                        platform = %self.cfg.name,
                        "rocketchat `{}`: subscription to {stream} refused",
                        self.cfg.name
                    );
                }
            }
            Err(e) => {
                return SessionEnd::Retry {
                    reason: e.to_string(),
                    was_up: false,
                };
            }
        }
        tracing::info!(platform = %self.cfg.name, user = %bot.username, "rocketchat connected");
        // A reader task answers pings and queues events, so neither a long backfill nor a
        // slow engine makes the server drop us for not answering.
        let (events_tx, mut events) = mpsc::unbounded_channel::<Result<Event, String>>();
        let reader = tokio::spawn(async move {
            loop {
                let item = conn.next_event().await.map_err(|e| e.to_string());
                let failed = item.is_err();
                if events_tx.send(item).is_err() || failed {
                    break;
                }
            }
            conn.close().await;
        });
        let _reader = AbortOnDrop(reader);
        let now = Utc::now();
        let previous_ready = {
            let mut st = self.inbound.lock().await;
            st.last_ready.replace(now)
        }
        .or_else(|| {
            // The first session of this process: catch up on what a previous run missed.
            let back = chrono::Duration::from_std(self.settings.startup_backfill).ok()?;
            (back > chrono::Duration::zero()).then(|| now - back)
        });
        if let Some(previous) = previous_ready {
            let mut rooms = rids.clone();
            if self.cfg.all_rooms {
                let st = self.inbound.lock().await;
                rooms.extend(st.watermarks.keys().cloned());
                rooms.sort();
                rooms.dedup();
            }
            match self.backfill(&rooms, previous).await {
                Ok((messages, deleted)) => {
                    for m in messages {
                        if !self.emit(m, sink).await {
                            return SessionEnd::SinkClosed;
                        }
                    }
                    for (rid, id, at) in deleted {
                        if !self.emit_delete(&rid, &id, at, sink).await {
                            return SessionEnd::SinkClosed;
                        }
                    }
                }
                Err(e) => {
                    // Not marked ready: the next session backfills from the same point.
                    self.inbound.lock().await.last_ready = Some(previous);
                    return self.session_error(e, true);
                }
            }
        }
        while let Some(item) = events.recv().await {
            match item {
                Ok(Event::Message(v)) => match decode_message(&v) {
                    Ok(m) => {
                        if !self.emit(m, sink).await {
                            return SessionEnd::SinkClosed;
                        }
                    }
                    Err(reason) => {
                        tracing::warn!(platform = %self.cfg.name, "skipping a message: {reason}");
                    }
                },
                Ok(Event::Deleted { rid, id }) => {
                    if !self.emit_delete(&rid, &id, Utc::now(), sink).await {
                        return SessionEnd::SinkClosed;
                    }
                }
                Err(reason) => {
                    return SessionEnd::Retry {
                        reason,
                        was_up: true,
                    };
                }
            }
        }
        SessionEnd::Retry {
            reason: "the realtime reader stopped".into(),
            was_up: true,
        }
    }

    /// Everything changed in `rooms` since the last seen change (or `previous_ready`), oldest
    /// first. Fetches all pages before anything is emitted, so a failure loses nothing.
    async fn backfill(
        &self,
        rooms: &[String],
        previous_ready: DateTime<Utc>,
    ) -> Result<Backfill, RestError> {
        let mut found: HashMap<String, RcMessage> = HashMap::new();
        let mut deleted = Vec::new();
        for rid in rooms {
            let since = {
                let st = self.inbound.lock().await;
                st.watermarks.get(rid).copied().unwrap_or(previous_ready)
            } - BACKFILL_MARGIN;
            let mut offset = 0usize;
            loop {
                let page = self
                    .rest
                    .get(
                        "chat.syncMessages",
                        &[
                            ("roomId", rid.clone()),
                            ("lastUpdate", iso(since)),
                            ("count", BACKFILL_PAGE.to_string()),
                            ("offset", offset.to_string()),
                        ],
                    )
                    .await?;
                if offset == 0 {
                    for d in page["result"]["deleted"].as_array().into_iter().flatten() {
                        if let Some(id) = d["_id"].as_str() {
                            let at = d
                                .get("_deletedAt")
                                .and_then(decode::parse_date)
                                .unwrap_or_else(Utc::now);
                            deleted.push((rid.clone(), id.to_string(), at));
                        }
                    }
                }
                let updated = page["result"]["updated"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                if updated.is_empty() {
                    break;
                }
                let mut fresh = 0;
                for v in &updated {
                    match decode_message(v) {
                        Ok(m) => {
                            if !found.contains_key(&m.id) {
                                fresh += 1;
                                found.insert(m.id.clone(), m);
                            }
                        }
                        Err(reason) => tracing::warn!(
                            platform = %self.cfg.name,
                            "skipping a backfilled message: {reason}"
                        ),
                    }
                }
                // A server that ignores offset/count sends the same page again.
                if fresh == 0 {
                    break;
                }
                offset += updated.len();
            }
        }
        let mut messages: Vec<RcMessage> = found.into_values().collect();
        messages.sort_by(|a, b| a.ts.cmp(&b.ts).then_with(|| a.id.cmp(&b.id)));
        if !messages.is_empty() {
            tracing::info!(
                platform = %self.cfg.name,
                count = messages.len(),
                "rocketchat backfill after reconnect"
            );
        }
        Ok((messages, deleted))
    }

    /// A deleted message becomes a Delete event, once, if it was emitted before.
    async fn emit_delete(
        &self,
        rid: &str,
        id: &str,
        at: DateTime<Utc>,
        sink: &InboundSink,
    ) -> bool {
        let channel = match self.room_channels.read() {
            Ok(map) => match map.get(rid) {
                Some(c) => c.clone(),
                None if self.cfg.all_rooms || self.cfg.channels.is_empty() => rid.to_string(),
                None => return true,
            },
            Err(_) => return true,
        };
        {
            let mut st = self.inbound.lock().await;
            if !st.seen.contains(id) || st.deleted.observe(id, None) != Novelty::New {
                return true;
            }
        }
        let inbound = Inbound {
            platform: self.cfg.name.clone(),
            kind: PlatformKind::RocketChat,
            event: InboundKind::Delete,
            channel,
            thread: None,
            incident_hint: None,
            author: Author {
                id: String::new(),
                display: String::new(),
            },
            text: String::new(),
            message_id: id.to_string(),
            sent_at: at,
        };
        sink.send(inbound).await.is_ok()
    }

    /// Decides what a (re)appearing message means and pushes it; false when the sink closed.
    async fn emit(&self, m: RcMessage, sink: &InboundSink) -> bool {
        let Some(inbound) = self.classify(m).await else {
            return true;
        };
        sink.send(inbound).await.is_ok()
    }

    async fn classify(&self, m: RcMessage) -> Option<Inbound> {
        let channel = {
            let map = self.room_channels.read().ok()?;
            match map.get(&m.rid) {
                Some(c) => c.clone(),
                None if self.cfg.all_rooms || self.cfg.channels.is_empty() => m.rid.clone(),
                None => return None,
            }
        };
        let bot = self.bot();
        let mut st = self.inbound.lock().await;
        let changed = m.changed_at();
        let mark = st.watermarks.entry(m.rid.clone()).or_insert(changed);
        if changed > *mark {
            *mark = changed;
        }
        if m.t.is_some() {
            return None;
        }
        let own = bot.as_ref().is_some_and(|b| b.user_id == m.user_id)
            || self.sent_ids.lock().is_ok_and(|s| s.contains(&m.id));
        if own {
            return None;
        }
        // Only what was emitted is remembered, so a later deletion is reported only for it.
        let novelty = st.seen.observe(&m.id, m.edited_at);
        drop(st);
        let event = match novelty {
            Novelty::New => InboundKind::Message,
            Novelty::Edited => InboundKind::Edit,
            Novelty::Repeat => return None,
        };
        let mut text = command_text(&m.msg, bot.as_ref().map(|b| b.username.as_str()));
        // Files and images travel as links (absolute, so other platforms can open them).
        for (title, link) in &m.files {
            let link = if link.starts_with('/') {
                format!("{}{link}", self.cfg.url.trim_end_matches('/'))
            } else {
                link.clone()
            };
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&format!("[file {title}] {link}"));
        }
        Some(Inbound {
            platform: self.cfg.name.clone(),
            kind: PlatformKind::RocketChat,
            event,
            channel,
            thread: m.tmid,
            incident_hint: None,
            author: Author {
                display: m.name.unwrap_or_else(|| m.username.clone()),
                id: m.username,
            },
            text,
            message_id: m.id,
            sent_at: m.ts,
        })
    }

    /// The room id to send to: a configured channel's id (resolving it now if `run` has not
    /// yet), or the channel taken as a room id.
    async fn target_room(&self, channel: &str) -> Result<String, SendError> {
        let key = channel_key(channel);
        if let Some(rid) = self.room_id(&key) {
            return Ok(rid);
        }
        if let Some(username) = channel.trim().strip_prefix('@') {
            return self.direct_room(&key, username).await;
        }
        let configured = self.cfg.channels.iter().any(|c| channel_key(&c.id) == key);
        if !configured {
            return Ok(channel.trim().to_string());
        }
        match self.resolve_room(channel).await {
            Ok(rid) => Ok(rid),
            Err(RestError::Rejected { error, .. }) => Err(SendError::Permanent(format!(
                "rocketchat `{}`: room `{channel}` not found or not visible to the bot ({error})",
                self.cfg.name
            ))),
            Err(e) => Err(self.send_error(e, channel)),
        }
    }

    /// The direct-message room with `username` (`im.create` returns the existing one too).
    async fn direct_room(&self, key: &str, username: &str) -> Result<String, SendError> {
        let name = &self.cfg.name;
        match self
            .rest
            .post("im.create", &json!({ "username": username }))
            .await
        {
            Ok(v) => match v["room"]["_id"].as_str().or(v["room"]["rid"].as_str()) {
                Some(rid) => {
                    if let Ok(mut m) = self.rooms.write() {
                        m.insert(key.to_string(), rid.to_string());
                    }
                    Ok(rid.to_string())
                }
                None => Err(SendError::Permanent(format!(
                    "rocketchat `{name}`: im.create for @{username} returned no room"
                ))),
            },
            Err(RestError::Rejected { error, .. }) => Err(SendError::Permanent(format!(
                "rocketchat `{name}`: cannot open a direct message with @{username} ({error})"
            ))),
            Err(e) => Err(self.send_error(e, &format!("@{username}"))),
        }
    }

    fn send_error(&self, e: RestError, channel: &str) -> SendError {
        let name = &self.cfg.name;
        match e {
            RestError::RateLimited { after } => SendError::Retry {
                after: Some(after),
                reason: format!("rocketchat `{name}` rate limit"),
            },
            RestError::Network(m) => SendError::Retry {
                after: None,
                reason: format!("rocketchat `{name}`: {m}"),
            },
            RestError::Server { status, error } => SendError::Retry {
                after: None,
                reason: format!("rocketchat `{name}`: server error {status}: {error}"),
            },
            RestError::Malformed(m) => SendError::Retry {
                after: None,
                reason: format!("rocketchat `{name}`: {m}"),
            },
            RestError::Unauthorized(m) => SendError::Retry {
                after: Some(Duration::from_secs(60)),
                reason: format!("rocketchat `{name}`: not authorised ({m}); check the token"),
            },
            RestError::TotpRequired => SendError::Permanent(format!("rocketchat `{name}`: {e}")),
            RestError::Rejected { .. } => {
                SendError::Permanent(format!("rocketchat `{name}`: room `{channel}`: {e}"))
            }
        }
    }

    /// Whether the message with this id exists and is the bot's own.
    async fn already_posted(&self, id: &str) -> bool {
        let Some(bot) = self.bot().or(self.identify().await.ok()) else {
            return false;
        };
        match self
            .rest
            .get("chat.getMessage", &[("msgId", id.to_string())])
            .await
        {
            Ok(v) => v["message"]["u"]["_id"].as_str() == Some(bot.user_id.as_str()),
            Err(_) => false,
        }
    }

    fn outbound_text(&self, msg: &Outbound) -> String {
        let mut text = text::neutralise_mentions(&neutralise_controls(&msg.text));
        if msg.style == Style::Mirror
            && !self.cfg.use_alias
            && let Some(author) = msg.author.as_deref().filter(|a| !a.is_empty())
        {
            text = format!(
                "{} {text}",
                text::neutralise_mentions(&neutralise_controls(author))
            );
        }
        let mentions = text::render_mentions(&msg.mentions);
        if !mentions.is_empty() {
            text = format!("{mentions} {text}");
        }
        text
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
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn send(&self, msg: &Outbound) -> Result<Sent, SendError> {
        let rid = self.target_room(&msg.channel).await?;
        if let Some(target) = &msg.delete_of {
            return match self
                .rest
                .post("chat.delete", &json!({"roomId": rid, "msgId": target}))
                .await
            {
                Ok(_) => Ok(Sent {
                    remote_id: target.clone(),
                    thread: None,
                }),
                Err(e) => Err(self.send_error(e, &msg.channel)),
            };
        }
        let body = self.outbound_text(msg);
        let parts = text::split_text(&body, self.cfg.max_message_chars);
        if let Some(target) = &msg.edit_of {
            let first = parts.first().cloned().unwrap_or_default();
            return match self
                .rest
                .post(
                    "chat.update",
                    &json!({"roomId": rid, "msgId": target, "text": first}),
                )
                .await
            {
                Ok(_) => Ok(Sent {
                    remote_id: target.clone(),
                    thread: None,
                }),
                Err(e) => Err(self.send_error(e, &msg.channel)),
            };
        }
        let mut first_id = None;
        for (i, part) in parts.iter().enumerate() {
            let id = message_id_for(&self.salt, msg.delivery_id, i);
            if let Ok(mut s) = self.sent_ids.lock() {
                s.observe(&id, None);
            }
            let mut message = json!({"_id": id, "rid": rid, "msg": part});
            if let Some(t) = &msg.thread {
                message["tmid"] = Value::String(t.clone());
                if msg.style == Style::StatusUpdate && self.cfg.show_status_updates_in_channel {
                    message["tshow"] = Value::Bool(true);
                }
            }
            if msg.style == Style::Mirror
                && self.cfg.use_alias
                && let Some(author) = msg.author.as_deref().filter(|a| !a.is_empty())
            {
                let alias: String = neutralise_controls(author)
                    .replace('\n', " ")
                    .chars()
                    .take(80)
                    .collect();
                message["alias"] = Value::String(alias);
            }
            let sent_id = match self
                .rest
                .post("chat.sendMessage", &json!({ "message": message }))
                .await
            {
                Ok(v) => v["message"]["_id"].as_str().unwrap_or(&id).to_string(),
                // The id is ours and deterministic: it exists because an earlier attempt
                // of this very delivery got through.
                Err(e) if is_duplicate_id(&e) => id.clone(),
                // Whatever the server's wording for a taken id, our message being there
                // already means an earlier attempt got through.
                Err(e @ RestError::Rejected { .. }) if self.already_posted(&id).await => {
                    tracing::debug!(platform = %self.cfg.name, "send refused ({e}) but already posted");
                    id.clone()
                }
                Err(e) => return Err(self.send_error(e, &msg.channel)),
            };
            if sent_id != id
                && let Ok(mut s) = self.sent_ids.lock()
            {
                s.observe(&sent_id, None);
            }
            first_id.get_or_insert(sent_id);
        }
        let remote_id = first_id.unwrap_or_default();
        let thread = (msg.style == Style::ThreadRoot).then(|| remote_id.clone());
        Ok(Sent { remote_id, thread })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_stable_and_salted() {
        let a = message_id_for("rc", 42, 0);
        assert_eq!(a, message_id_for("rc", 42, 0));
        assert_eq!(a.len(), 17);
        assert_ne!(a, message_id_for("rc", 42, 1));
        assert_ne!(a, message_id_for("rc", 43, 0));
        assert_ne!(a, message_id_for("other-db", 42, 0));
        assert!(a.bytes().all(|b| ID_ALPHABET.contains(&b)));
    }

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
