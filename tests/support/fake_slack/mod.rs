//! A faithful fake Slack for tests: the Web API methods Flare uses (over real HTTP, checked
//! the way Slack checks them) and Socket Mode (a real websocket with hello, envelopes,
//! redelivery of unacked envelopes and disconnect frames).
//!
//! Anything Slack would reject or silently ignore is recorded as a violation;
//! `assert_no_violations` fails the test on any.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use futures_util::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite::Message;

pub const BOT_TOKEN: &str = "xoxb-1111-2222-fakebottoken";
pub const APP_TOKEN: &str = "xapp-1-A0FAKE-3333-fakeapptoken";
pub const BOT_USER: &str = "U0FLAREBOT";
pub const BOT_ID: &str = "B0FLARE";
pub const TEAM: &str = "T0FAKE";

/// `X-Slack-Signature` for a request, computed independently of the adapter.
pub fn sign(secret: &str, ts: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("v0:{ts}:{body}").as_bytes());
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("v0={hex}")
}

#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub http_method: String,
    pub content_type: String,
    pub token: Option<String>,
    pub args: Map<String, Value>,
    pub at: Instant,
    /// What the fake answered: HTTP status and Slack error, if any.
    pub status: u16,
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Msg {
    pub ts: String,
    pub thread_ts: Option<String>,
    pub text: String,
    pub user: String,
    pub bot_id: Option<String>,
    pub reply_broadcast: bool,
    pub edited: bool,
    pub deleted: bool,
}

impl Msg {
    /// Not a reply: a message of the channel itself, whose `thread_ts` (as on Slack) turns
    /// into its own `ts` once someone replies to it.
    pub fn is_parent(&self) -> bool {
        self.thread_ts.as_ref().is_none_or(|t| t == &self.ts)
    }
}

#[derive(Debug, Default)]
struct Channel {
    archived: bool,
    member: bool,
    messages: Vec<Msg>,
}

#[derive(Debug, Clone)]
pub struct Ack {
    pub payload: Option<Value>,
    /// From the envelope's (last) write to the ack's arrival, measured by the fake.
    pub latency: Duration,
    pub at: Instant,
    pub conn: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedBy {
    Client,
    Server,
}

#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub id: u64,
    pub opened_at: Instant,
    pub closed_at: Option<Instant>,
    pub closed_by: Option<ClosedBy>,
}

enum Out {
    Frame {
        text: String,
        envelope: Option<String>,
    },
    Close,
    Drop,
}

struct Conn {
    info: ConnInfo,
    tx: mpsc::UnboundedSender<Out>,
}

struct Pending {
    frame: Value,
    /// The frame as written when it is deliberately not valid JSON.
    raw: Option<String>,
    attempts: u32,
    last_sent: Instant,
    conn: u64,
}

#[derive(Clone, Copy)]
enum Scripted {
    RateLimited { retry_after: u64 },
    Status(u16),
}

#[derive(Default)]
struct StateInner {
    calls: Vec<Call>,
    violations: Vec<String>,
    last_ts_micros: i64,
    channels: HashMap<String, Channel>,
    users: HashMap<String, String>,
    scripted: HashMap<String, VecDeque<Scripted>>,
    tickets: HashMap<String, bool>,
    next_ticket: u64,
    conns: Vec<Conn>,
    next_conn: u64,
    pending: HashMap<String, Pending>,
    /// When each envelope's frame was last written, for ack latency.
    written: HashMap<String, Instant>,
    acks: HashMap<String, Vec<Ack>>,
    drop_next_acks: u32,
    next_envelope: u64,
    redeliver_after: Duration,
    refresh_grace: Duration,
}

#[derive(Clone)]
pub struct FakeSlack {
    pub api_base: String,
    pub ws_addr: SocketAddr,
    state: Arc<Mutex<StateInner>>,
    changed: Arc<Notify>,
}

/// The type the Web API spec gives an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArgType {
    Str,
    Bool,
    /// The spec types `ts` as a number; Slack takes the string form (`"1700000000.000100"`).
    Number,
}

/// Arguments each method takes, with their types, from the Web API spec (the OpenAPI
/// document's `formData`/`query` parameters); anything else is ignored by Slack, so sending it
/// is a bug, and so is a value of another type.
fn spec_args(method: &str) -> &'static [(&'static str, ArgType)] {
    use ArgType::*;
    match method {
        "chat.postMessage" => &[
            ("channel", Str),
            ("text", Str),
            ("blocks", Str),
            ("attachments", Str),
            ("thread_ts", Str),
            ("reply_broadcast", Bool),
            ("link_names", Bool),
            ("mrkdwn", Bool),
            ("parse", Str),
            ("username", Str),
            ("icon_emoji", Str),
            ("icon_url", Str),
            ("as_user", Str),
            ("unfurl_links", Bool),
            ("unfurl_media", Bool),
        ],
        "chat.update" => &[
            ("channel", Str),
            ("ts", Str),
            ("text", Str),
            ("blocks", Str),
            ("attachments", Str),
            ("link_names", Str),
            ("parse", Str),
            ("as_user", Str),
        ],
        "chat.delete" => &[("channel", Str), ("ts", Number), ("as_user", Bool)],
        "users.info" => &[("user", Str), ("include_locale", Bool)],
        "conversations.open" => &[("channel", Str), ("users", Str), ("return_im", Bool)],
        _ => &[],
    }
}

/// Whether `v` is of type `t` as Slack reads it: a form body carries every value as a string.
fn has_type(v: &Value, t: ArgType, form: bool) -> bool {
    match t {
        ArgType::Str => v.is_string(),
        ArgType::Bool if form => matches!(v.as_str(), Some("true" | "false" | "1" | "0")),
        ArgType::Bool => v.is_boolean(),
        ArgType::Number => v.is_number() || v.as_str().is_some_and(|s| s.parse::<f64>().is_ok()),
    }
}

fn is_ts(s: &str) -> bool {
    let Some((a, b)) = s.split_once('.') else {
        return false;
    };
    a.len() == 10 && b.len() == 6 && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
}

fn truthy(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Bool(true))) || matches!(v.and_then(Value::as_str), Some("true" | "1"))
}

impl FakeSlack {
    /// Starts the fake with these channels (the bot is a member of each).
    pub async fn start(channels: &[&str]) -> FakeSlack {
        let http = TcpListener::bind("127.0.0.1:0").await.expect("bind http");
        let ws = TcpListener::bind("127.0.0.1:0").await.expect("bind ws");
        let http_addr = http.local_addr().expect("addr");
        let ws_addr = ws.local_addr().expect("addr");
        let mut inner = StateInner {
            redeliver_after: Duration::from_millis(500),
            refresh_grace: Duration::from_secs(2),
            ..Default::default()
        };
        for c in channels {
            inner.channels.insert(
                c.to_string(),
                Channel {
                    member: true,
                    ..Default::default()
                },
            );
        }
        let fake = FakeSlack {
            api_base: format!("http://{http_addr}/api/"),
            ws_addr,
            state: Arc::new(Mutex::new(inner)),
            changed: Arc::new(Notify::new()),
        };
        let app = Router::new()
            .route("/api/{method}", any(web_api))
            .with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(http, app).await;
        });
        let f = fake.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = ws.accept().await {
                let f = f.clone();
                tokio::spawn(async move { f.socket(stream).await });
            }
        });
        let f = fake.clone();
        tokio::spawn(async move { f.redeliver_loop().await });
        fake
    }

    fn with<T>(&self, f: impl FnOnce(&mut StateInner) -> T) -> T {
        let mut g = self.state.lock().expect("fake state");
        let out = f(&mut g);
        drop(g);
        self.changed.notify_waiters();
        out
    }

    /// Waits until `f` returns something, or `timeout` passes.
    async fn wait_for<T>(
        &self,
        timeout: Duration,
        f: impl Fn(&StateInner) -> Option<T>,
    ) -> Option<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            if let Some(v) = f(&self.state.lock().expect("fake state")) {
                return Some(v);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    // ---- setup ----

    pub fn add_user(&self, id: &str, display: &str) {
        self.with(|s| s.users.insert(id.to_string(), display.to_string()));
    }

    pub fn set_channel(&self, id: &str, archived: bool, member: bool) {
        self.with(|s| {
            let c = s.channels.entry(id.to_string()).or_default();
            c.archived = archived;
            c.member = member;
        });
    }

    /// The next `count` calls of `method` get HTTP 429 with `Retry-After: secs`.
    pub fn rate_limit(&self, method: &str, retry_after: u64, count: usize) {
        self.with(|s| {
            let q = s.scripted.entry(method.to_string()).or_default();
            q.extend(std::iter::repeat_n(
                Scripted::RateLimited { retry_after },
                count,
            ));
        });
    }

    /// The next `count` calls of `method` get this HTTP status (e.g. 503).
    pub fn fail_with_status(&self, method: &str, status: u16, count: usize) {
        self.with(|s| {
            let q = s.scripted.entry(method.to_string()).or_default();
            q.extend(std::iter::repeat_n(Scripted::Status(status), count));
        });
    }

    /// The fake "loses" the next `n` acks, so those envelopes are redelivered.
    pub fn lose_next_acks(&self, n: u32) {
        self.with(|s| s.drop_next_acks = n);
    }

    pub fn set_redeliver_after(&self, d: Duration) {
        self.with(|s| s.redeliver_after = d);
    }

    // ---- inspection ----

    pub fn calls(&self, method: &str) -> Vec<Call> {
        self.with(|s| {
            s.calls
                .iter()
                .filter(|c| c.method == method)
                .cloned()
                .collect()
        })
    }

    pub fn violations(&self) -> Vec<String> {
        self.with(|s| s.violations.clone())
    }

    #[track_caller]
    pub fn assert_no_violations(&self) {
        let v = self.violations();
        assert!(
            v.is_empty(),
            "requests Slack would reject:\n  {}",
            v.join("\n  ")
        );
    }

    /// Messages in a channel (top level and replies), oldest first.
    pub fn messages(&self, channel: &str) -> Vec<Msg> {
        self.with(|s| {
            s.channels
                .get(channel)
                .map(|c| c.messages.clone())
                .unwrap_or_default()
        })
    }

    pub fn replies(&self, channel: &str, thread_ts: &str) -> Vec<Msg> {
        self.messages(channel)
            .into_iter()
            .filter(|m| m.thread_ts.as_deref() == Some(thread_ts) && m.ts != thread_ts)
            .collect()
    }

    pub fn connections(&self) -> Vec<ConnInfo> {
        self.with(|s| s.conns.iter().map(|c| c.info.clone()).collect())
    }

    /// Waits for `n` connections in total to have been opened (and greeted).
    pub async fn wait_connections(&self, n: usize, timeout: Duration) -> bool {
        self.wait_for(timeout, |s| (s.conns.len() >= n).then_some(()))
            .await
            .is_some()
    }

    /// Waits until connection `id` is closed; returns its record.
    pub async fn wait_for_closed(&self, id: u64, timeout: Duration) -> Option<ConnInfo> {
        self.wait_for(timeout, |s| {
            s.conns
                .iter()
                .find(|c| c.info.id == id && c.info.closed_at.is_some())
                .map(|c| c.info.clone())
        })
        .await
    }

    pub async fn wait_ack(&self, envelope_id: &str, timeout: Duration) -> Option<Ack> {
        self.wait_for(timeout, |s| {
            s.acks.get(envelope_id).and_then(|a| a.first().cloned())
        })
        .await
    }

    /// When the envelope's frame was last written to the websocket.
    pub fn written_at(&self, envelope_id: &str) -> Option<Instant> {
        self.with(|s| s.written.get(envelope_id).copied())
    }

    pub fn acks(&self, envelope_id: &str) -> Vec<Ack> {
        self.with(|s| s.acks.get(envelope_id).cloned().unwrap_or_default())
    }

    /// How many times an envelope has been written (1 + redeliveries).
    pub fn deliveries(&self, envelope_id: &str) -> u32 {
        self.with(|s| s.pending.get(envelope_id).map(|p| p.attempts).unwrap_or(0))
    }

    /// Waits for a message in `channel` matching `f`.
    pub async fn wait_for_message(
        &self,
        channel: &str,
        timeout: Duration,
        f: impl Fn(&Msg) -> bool,
    ) -> Option<Msg> {
        self.wait_for(timeout, |s| {
            s.channels
                .get(channel)?
                .messages
                .iter()
                .find(|m| f(m))
                .cloned()
        })
        .await
    }

    pub async fn wait_message(&self, channel: &str, timeout: Duration, n: usize) -> Vec<Msg> {
        self.wait_for(timeout, |s| {
            let msgs = &s.channels.get(channel)?.messages;
            (msgs.len() >= n).then(|| msgs.clone())
        })
        .await
        .unwrap_or_default()
    }

    // ---- Slack-side activity ----

    /// A new Slack-like ts: `1700000000.000100`-shaped, unique and increasing.
    pub fn next_ts(&self) -> String {
        self.with(new_ts)
    }

    /// A person posts in a channel (optionally in a thread): stored, and delivered as a
    /// `message` event. Returns (ts, envelope_id).
    pub fn user_posts(
        &self,
        channel: &str,
        user: &str,
        text: &str,
        thread_ts: Option<&str>,
    ) -> (String, String) {
        let ts = self.with(|s| {
            let ts = new_ts(s);
            let c = s.channels.entry(channel.to_string()).or_default();
            c.messages.push(Msg {
                ts: ts.clone(),
                thread_ts: thread_ts.map(str::to_string),
                text: text.to_string(),
                user: user.to_string(),
                bot_id: None,
                reply_broadcast: false,
                edited: false,
                deleted: false,
            });
            ts
        });
        let env = self.send_event(message_event(channel, user, text, &ts, thread_ts));
        (ts, env)
    }

    /// Sends an `events_api` envelope wrapping `event`; returns its envelope id.
    pub fn send_event(&self, event: Value) -> String {
        self.with(|s| {
            s.next_envelope += 1;
            let n = s.next_envelope;
            let envelope_id = format!("{n:08x}-fake-4d2c-9f3e-envelope");
            let now = chrono::Utc::now().timestamp();
            let frame = json!({
                "envelope_id": envelope_id,
                "type": "events_api",
                "accepts_response_payload": false,
                "retry_attempt": 0,
                "retry_reason": "",
                "payload": {
                    "token": "fakeverificationtoken",
                    "team_id": TEAM,
                    "api_app_id": "A0FAKE",
                    "event": event,
                    "type": "event_callback",
                    "event_id": format!("Ev0FAKE{n:06}"),
                    "event_time": now,
                    "authed_users": [BOT_USER],
                },
            });
            deliver(s, &envelope_id, frame);
            envelope_id
        })
    }

    /// Sends a `slash_commands` envelope (`/incident <text>`); returns its envelope id.
    pub fn send_slash(&self, channel: &str, user: &str, text: &str) -> String {
        self.with(|s| {
            s.next_envelope += 1;
            let n = s.next_envelope;
            let envelope_id = format!("{n:08x}-fake-4d2c-9f3e-slashcmd");
            let frame = json!({
                "envelope_id": envelope_id,
                "type": "slash_commands",
                "accepts_response_payload": true,
                "payload": slash_fields(channel, user, text, n),
            });
            deliver(s, &envelope_id, frame);
            envelope_id
        })
    }

    /// Sends an `interactive` envelope (a type Flare does not handle); returns its id.
    pub fn send_interactive(&self) -> String {
        self.with(|s| {
            s.next_envelope += 1;
            let envelope_id = format!("{:08x}-fake-4d2c-9f3e-interact", s.next_envelope);
            let frame = json!({
                "envelope_id": envelope_id,
                "type": "interactive",
                "accepts_response_payload": false,
                "payload": {"type": "block_actions", "user": {"id": "U0BOB"}, "actions": []},
            });
            deliver(s, &envelope_id, frame);
            envelope_id
        })
    }

    /// Sends an `events_api` envelope whose JSON is cut short; returns its envelope id.
    pub fn send_truncated_envelope(&self) -> String {
        self.with(|s| {
            s.next_envelope += 1;
            let envelope_id = format!("{:08x}-fake-4d2c-9f3e-truncatd", s.next_envelope);
            let raw = format!(
                r#"{{"envelope_id":"{envelope_id}","type":"events_api","accepts_response_payload":false,"payload":{{"event":{{"type":"mess"#
            );
            let conn = current(s).map(|c| c.info.id).unwrap_or(0);
            if let Some(c) = current(s) {
                let _ = c.tx.send(Out::Frame {
                    text: raw.clone(),
                    envelope: Some(envelope_id.clone()),
                });
            }
            s.pending.insert(
                envelope_id.clone(),
                Pending {
                    frame: json!({"envelope_id": envelope_id, "accepts_response_payload": false}),
                    raw: Some(raw),
                    attempts: 1,
                    last_sent: Instant::now(),
                    conn,
                },
            );
            envelope_id
        })
    }

    /// Writes any text frame to the current connection.
    pub fn send_raw(&self, text: &str) {
        self.with(|s| {
            if let Some(c) = current(s) {
                let _ = c.tx.send(Out::Frame {
                    text: text.to_string(),
                    envelope: None,
                });
            }
        });
    }

    /// Sends a `disconnect` frame to the current connection. For `refresh_requested` and
    /// `warning` the fake closes that connection itself after the grace period if the client
    /// has not; for `link_disabled` it closes it at once.
    pub fn disconnect(&self, reason: &str) -> Option<u64> {
        let (id, grace) = self.with(|s| {
            let grace = s.refresh_grace;
            let c = current(s)?;
            let frame = json!({"type": "disconnect", "reason": reason,
                "debug_info": {"host": "fake-slack-1"}});
            let _ = c.tx.send(Out::Frame {
                text: frame.to_string(),
                envelope: None,
            });
            Some((c.info.id, grace))
        })?;
        let f = self.clone();
        let grace = if reason == "link_disabled" {
            Duration::from_millis(100)
        } else {
            grace
        };
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            f.with(|s| {
                if let Some(c) = s.conns.iter().find(|c| c.info.id == id) {
                    let _ = c.tx.send(Out::Close);
                }
            });
        });
        Some(id)
    }

    /// Drops every connection without a close frame (a network failure).
    pub fn drop_connections(&self) {
        self.with(|s| {
            for c in &s.conns {
                let _ = c.tx.send(Out::Drop);
            }
        });
    }

    // ---- Socket Mode server ----

    async fn socket(&self, stream: tokio::net::TcpStream) {
        let mut path = String::new();
        // The callback's error type is tungstenite's, which is large; not ours to change.
        #[allow(clippy::result_large_err)]
        let cb =
            |req: &tokio_tungstenite::tungstenite::handshake::server::Request,
             resp: tokio_tungstenite::tungstenite::handshake::server::Response| {
                path = req.uri().to_string();
                Ok(resp)
            };
        let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, cb).await else {
            self.with(|s| s.violations.push("websocket handshake failed".into()));
            return;
        };
        let ticket = path
            .split_once("ticket=")
            .map(|(_, t)| t.split('&').next().unwrap_or_default().to_string())
            .unwrap_or_default();
        let ok = self.with(|s| match s.tickets.get_mut(&ticket) {
            Some(used @ false) => {
                *used = true;
                true
            }
            Some(true) => {
                s.violations
                    .push(format!("websocket URL reused (ticket {ticket})"));
                false
            }
            None => {
                s.violations
                    .push(format!("websocket with unknown ticket `{ticket}`"));
                false
            }
        });
        let (mut sink, mut stream) = ws.split();
        if !ok {
            let _ = sink.close().await;
            return;
        }
        let (tx, mut rx) = mpsc::unbounded_channel();
        let id = self.with(|s| {
            s.next_conn += 1;
            let id = s.next_conn;
            let num = s
                .conns
                .iter()
                .filter(|c| c.info.closed_at.is_none())
                .count()
                + 1;
            let hello = json!({"type": "hello", "num_connections": num,
                "debug_info": {"host": "fake-slack-1", "build_number": 1,
                    "approximate_connection_time": 18060},
                "connection_info": {"app_id": "A0FAKE"}});
            let _ = tx.send(Out::Frame {
                text: hello.to_string(),
                envelope: None,
            });
            s.conns.push(Conn {
                info: ConnInfo {
                    id,
                    opened_at: Instant::now(),
                    closed_at: None,
                    closed_by: None,
                },
                tx,
            });
            redeliver_to_new(s, id);
            id
        });
        let closed_by = loop {
            tokio::select! {
                out = rx.recv() => match out {
                    Some(Out::Frame { text, envelope }) => {
                        if let Some(e) = envelope {
                            self.with(|s| s.written.insert(e, Instant::now()));
                        }
                        if sink.send(Message::Text(text.into())).await.is_err() {
                            break ClosedBy::Client;
                        }
                    }
                    Some(Out::Close) => {
                        let _ = sink.close().await;
                        break ClosedBy::Server;
                    }
                    Some(Out::Drop) | None => break ClosedBy::Server,
                },
                frame = stream.next() => match frame {
                    Some(Ok(Message::Text(t))) => self.on_client_frame(id, &t),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break ClosedBy::Client,
                    Some(Ok(_)) => {}
                },
            }
        };
        self.with(|s| {
            if let Some(c) = s.conns.iter_mut().find(|c| c.info.id == id) {
                c.info.closed_at = Some(Instant::now());
                c.info.closed_by = Some(closed_by);
            }
        });
    }

    fn on_client_frame(&self, conn: u64, text: &str) {
        let at = Instant::now();
        self.with(|s| {
            let Ok(v) = serde_json::from_str::<Value>(text) else {
                s.violations
                    .push(format!("client sent a non-JSON frame: {text}"));
                return;
            };
            let Some(id) = v.get("envelope_id").and_then(Value::as_str) else {
                s.violations
                    .push(format!("client frame without envelope_id: {text}"));
                return;
            };
            let Some(p) = s.pending.get(id) else {
                s.violations
                    .push(format!("ack for an envelope never sent: {id}"));
                return;
            };
            let accepts = p.frame["accepts_response_payload"]
                .as_bool()
                .unwrap_or(false);
            if v.get("payload").is_some() && !accepts {
                s.violations
                    .push(format!("ack with payload for {id}, which accepts none"));
            }
            if s.drop_next_acks > 0 {
                s.drop_next_acks -= 1;
                return;
            }
            let latency = s.written.get(id).map(|w| at - *w).unwrap_or_default();
            s.acks.entry(id.to_string()).or_default().push(Ack {
                payload: v.get("payload").cloned(),
                latency,
                at,
                conn,
            });
        });
    }

    async fn redeliver_loop(&self) {
        loop {
            tokio::time::sleep(Duration::from_millis(25)).await;
            self.with(|s| {
                let after = s.redeliver_after;
                let due: Vec<String> = s
                    .pending
                    .iter()
                    .filter(|(id, p)| {
                        !s.acks.contains_key(*id)
                            && p.attempts >= 1
                            && p.attempts < MAX_ATTEMPTS
                            && p.last_sent.elapsed() >= after
                    })
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in due {
                    let Some(conn) = current(s).map(|c| c.info.id) else {
                        continue;
                    };
                    let Some(p) = s.pending.get_mut(&id) else {
                        continue;
                    };
                    p.frame["retry_attempt"] = json!(p.attempts);
                    p.frame["retry_reason"] = json!("timeout");
                    p.attempts += 1;
                    p.last_sent = Instant::now();
                    p.conn = conn;
                    let text = p.raw.clone().unwrap_or_else(|| p.frame.to_string());
                    if let Some(c) = s.conns.iter().find(|c| c.info.id == conn) {
                        let _ = c.tx.send(Out::Frame {
                            text,
                            envelope: Some(id.clone()),
                        });
                    }
                }
            });
        }
    }
}

/// Slack delivers an envelope once and retries it up to 3 times while it is not acked.
const MAX_ATTEMPTS: u32 = 4;

/// As Slack does when an app connects: every envelope not acked yet that no open connection
/// holds (queued while none was open, or written to one that went away unacked) goes out on
/// the new connection, in the order it was first sent; one written before, as a retry.
fn redeliver_to_new(s: &mut StateInner, conn: u64) {
    let open = |c: u64| {
        c != conn
            && s.conns
                .iter()
                .any(|k| k.info.id == c && k.info.closed_at.is_none())
    };
    let mut due: Vec<String> = s
        .pending
        .iter()
        .filter(|(id, p)| {
            !s.acks.contains_key(*id)
                && p.attempts < MAX_ATTEMPTS
                && (p.attempts == 0 || !open(p.conn))
        })
        .map(|(id, _)| id.clone())
        .collect();
    // Envelope ids start with their sequence number in fixed-width hex.
    due.sort();
    let Some(tx) = s
        .conns
        .iter()
        .find(|c| c.info.id == conn)
        .map(|c| c.tx.clone())
    else {
        return;
    };
    for id in due {
        let Some(p) = s.pending.get_mut(&id) else {
            continue;
        };
        if p.attempts > 0 {
            p.frame["retry_attempt"] = json!(p.attempts);
            p.frame["retry_reason"] = json!("timeout");
        }
        p.attempts += 1;
        p.last_sent = Instant::now();
        p.conn = conn;
        let text = p.raw.clone().unwrap_or_else(|| p.frame.to_string());
        let _ = tx.send(Out::Frame {
            text,
            envelope: Some(id),
        });
    }
}

/// The newest open connection (Slack sends each envelope to any one of them).
fn current(s: &StateInner) -> Option<&Conn> {
    s.conns.iter().rev().find(|c| c.info.closed_at.is_none())
}

fn deliver(s: &mut StateInner, envelope_id: &str, frame: Value) {
    let conn = current(s).map(|c| c.info.id).unwrap_or(0);
    // With no connection open it waits for the next one (`redeliver_to_new`).
    let attempts = match current(s) {
        Some(c) => {
            let _ = c.tx.send(Out::Frame {
                text: frame.to_string(),
                envelope: Some(envelope_id.to_string()),
            });
            1
        }
        None => 0,
    };
    s.pending.insert(
        envelope_id.to_string(),
        Pending {
            frame,
            raw: None,
            attempts,
            last_sent: Instant::now(),
            conn,
        },
    );
}

fn new_ts(s: &mut StateInner) -> String {
    let now = chrono::Utc::now().timestamp_micros();
    let micros = now.max(s.last_ts_micros + 1);
    s.last_ts_micros = micros;
    format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}

pub fn message_event(
    channel: &str,
    user: &str,
    text: &str,
    ts: &str,
    thread_ts: Option<&str>,
) -> Value {
    let mut ev = json!({
        "type": "message",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "channel_type": "channel",
        "team": TEAM,
        "client_msg_id": format!("c0ffee00-{}", ts.replace('.', "-")),
    });
    if let Some(t) = thread_ts {
        ev["thread_ts"] = json!(t);
        ev["parent_user_id"] = json!(BOT_USER);
    }
    ev
}

/// The slash-command fields Slack sends (form fields over HTTP, the payload over Socket Mode).
pub fn slash_fields(channel: &str, user: &str, text: &str, n: u64) -> Value {
    json!({
        "token": "fakeverificationtoken",
        "team_id": TEAM,
        "team_domain": "fake",
        "channel_id": channel,
        "channel_name": "incidents",
        "user_id": user,
        "user_name": "roadrunner",
        "command": "/incident",
        "text": text,
        "api_app_id": "A0FAKE",
        "is_enterprise_install": "false",
        "response_url": format!("https://hooks.slack.com/commands/{TEAM}/{n}/fake"),
        "trigger_id": format!("{n}.47445629121.803a0bc887a14d10d2c447fce8b6703c"),
    })
}

fn fail(error: &str) -> Response {
    axum::Json(json!({"ok": false, "error": error})).into_response()
}

async fn web_api(
    State(fake): State<FakeSlack>,
    Path(method): Path<String>,
    http_method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut violations = Vec::new();
    // Parse the body as Slack would.
    let mut args = Map::new();
    let json_body = content_type.starts_with("application/json");
    if json_body {
        if !content_type.replace(' ', "").contains("charset=utf-8") {
            violations.push(format!(
                "{method}: JSON without charset=utf-8 (Slack warns missing_charset)"
            ));
        }
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(o)) => args = o,
            Ok(_) => violations.push(format!("{method}: JSON body is not an object")),
            Err(_) => violations.push(format!("{method}: invalid JSON body")),
        }
        if matches!(
            method.as_str(),
            "users.info" | "auth.test" | "apps.connections.open"
        ) {
            violations.push(format!("{method} does not accept JSON bodies"));
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") || body.is_empty() {
        match serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) {
            Ok(pairs) => {
                for (k, v) in pairs {
                    args.insert(k, Value::String(v));
                }
            }
            Err(_) => violations.push(format!("{method}: invalid form body")),
        }
    } else {
        violations.push(format!(
            "{method}: unsupported content type `{content_type}`"
        ));
    }
    if http_method != Method::POST {
        violations.push(format!("{method}: HTTP {http_method}, Flare should POST"));
    }
    if args.contains_key("token") {
        violations.push(format!(
            "{method}: token in the body; use Authorization: Bearer"
        ));
    }
    for (k, v) in &args {
        match spec_args(&method).iter().find(|(name, _)| name == k) {
            None => violations.push(format!(
                "{method}: unknown argument `{k}` (Slack ignores it)"
            )),
            Some((_, t)) if !has_type(v, *t, !json_body) => violations.push(format!(
                "{method}: `{k}` is not of the spec's type {t:?}: {v}"
            )),
            Some(_) => {}
        }
    }
    let token = auth
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer "))
        .map(str::to_string);
    let record = |fake: &FakeSlack, status: u16, error: Option<&str>, extra: Vec<String>| {
        fake.with(|s| {
            s.violations.extend(extra);
            s.calls.push(Call {
                method: method.clone(),
                http_method: http_method.to_string(),
                content_type: content_type.clone(),
                token: token.clone(),
                args: args.clone(),
                at: Instant::now(),
                status,
                error: error.map(str::to_string),
            });
        });
    };
    let scripted = fake.with(|s| s.scripted.get_mut(&method).and_then(VecDeque::pop_front));
    match scripted {
        Some(Scripted::RateLimited { retry_after }) => {
            record(&fake, 429, Some("ratelimited"), violations);
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", retry_after.to_string())],
                axum::Json(json!({"ok": false, "error": "ratelimited"})),
            )
                .into_response();
        }
        Some(Scripted::Status(code)) => {
            record(&fake, code, None, violations);
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return (status, "upstream trouble").into_response();
        }
        None => {}
    }
    // Authentication, and the right kind of token for the method.
    let wants_app = method == "apps.connections.open";
    let err = match token.as_deref() {
        None => {
            violations.push(format!("{method}: no Authorization: Bearer header"));
            Some("not_authed")
        }
        Some(APP_TOKEN) if !wants_app => {
            violations.push(format!("{method}: called with the app-level token"));
            Some("not_allowed_token_type")
        }
        Some(BOT_TOKEN) if wants_app => {
            violations.push(format!("{method}: called with the bot token"));
            Some("not_allowed_token_type")
        }
        Some(APP_TOKEN) | Some(BOT_TOKEN) => None,
        Some(_) => Some("invalid_auth"),
    };
    if let Some(e) = err {
        record(&fake, 200, Some(e), violations);
        return fail(e);
    }
    let arg = |k: &str| args.get(k).and_then(Value::as_str).map(str::to_string);
    let result: Result<Value, &str> = match method.as_str() {
        "auth.test" => Ok(
            json!({"ok": true, "url": "https://fake.slack.com/", "team": "Fake",
            "user": "flare", "team_id": TEAM, "user_id": BOT_USER, "bot_id": BOT_ID,
            "is_enterprise_install": false}),
        ),
        "apps.connections.open" => {
            let ticket = fake.with(|s| {
                s.next_ticket += 1;
                let t = format!("fake-ticket-{}", s.next_ticket);
                s.tickets.insert(t.clone(), false);
                t
            });
            Ok(json!({"ok": true,
                "url": format!("ws://{}/link/?ticket={ticket}&app_id=A0FAKE", fake.ws_addr)}))
        }
        "users.info" => match arg("user") {
            None => {
                violations.push("users.info without user".into());
                Err("user_not_found")
            }
            Some(u) => match fake.with(|s| s.users.get(&u).cloned()) {
                Some(name) => Ok(json!({"ok": true, "user": {
                    "id": u, "team_id": TEAM, "name": name.to_lowercase(), "deleted": false,
                    "real_name": name, "is_bot": false, "is_app_user": false, "updated": 1700000000,
                    "profile": {"display_name": name, "real_name": name,
                        "display_name_normalized": name, "real_name_normalized": name}}})),
                None => Err("user_not_found"),
            },
        },
        "chat.postMessage" => fake.post_message(&args, &mut violations),
        "chat.update" => fake.update(&args, &mut violations),
        "chat.delete" => fake.delete(&args, &mut violations),
        _ => {
            violations.push(format!("unknown method {method}"));
            Err("unknown_method")
        }
    };
    match result {
        Ok(v) => {
            record(&fake, 200, None, violations);
            axum::Json(v).into_response()
        }
        Err(e) => {
            record(&fake, 200, Some(e), violations);
            fail(e)
        }
    }
}

impl FakeSlack {
    fn check_channel(
        &self,
        args: &Map<String, Value>,
        v: &mut Vec<String>,
        write: bool,
    ) -> Result<String, &'static str> {
        let Some(ch) = args.get("channel").and_then(Value::as_str) else {
            v.push("missing required argument `channel`".into());
            return Err("channel_not_found");
        };
        self.with(|s| {
            // A user id as the channel posts to the app's direct message with that user,
            // as Slack does.
            if write && !s.channels.contains_key(ch) && s.users.contains_key(ch) {
                s.channels.insert(
                    ch.to_string(),
                    Channel {
                        member: true,
                        ..Default::default()
                    },
                );
            }
            match s.channels.get(ch) {
                None => Err("channel_not_found"),
                Some(c) if write && c.archived => Err("is_archived"),
                Some(c) if write && !c.member => Err("not_in_channel"),
                Some(_) => Ok(ch.to_string()),
            }
        })
    }

    fn post_message(
        &self,
        args: &Map<String, Value>,
        v: &mut Vec<String>,
    ) -> Result<Value, &'static str> {
        let channel = self.check_channel(args, v, true)?;
        let text = args
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if text.is_empty() && !args.contains_key("blocks") && !args.contains_key("attachments") {
            v.push("chat.postMessage without text".into());
            return Err("no_text");
        }
        if text.chars().count() > 40_000 {
            return Err("msg_too_long");
        }
        let thread_ts = args
            .get("thread_ts")
            .and_then(Value::as_str)
            .map(str::to_string);
        let broadcast = truthy(args.get("reply_broadcast"));
        if broadcast && thread_ts.is_none() {
            v.push("chat.postMessage: reply_broadcast without thread_ts".into());
        }
        self.with(|s| {
            if let Some(t) = &thread_ts {
                let parent = s
                    .channels
                    .get(&channel)
                    .and_then(|c| c.messages.iter().find(|m| &m.ts == t));
                match parent {
                    None => s.violations.push(format!(
                        "chat.postMessage: thread_ts {t} is no message in {channel}"
                    )),
                    Some(p) if p.thread_ts.as_ref().is_some_and(|pt| pt != &p.ts) => {
                        s.violations.push(format!(
                            "chat.postMessage: thread_ts {t} is a reply, not a parent"
                        ))
                    }
                    Some(_) => {}
                }
                if !is_ts(t) {
                    s.violations
                        .push(format!("chat.postMessage: thread_ts `{t}` is not a ts"));
                }
            }
            let ts = new_ts(s);
            let c = s.channels.entry(channel.clone()).or_default();
            // A thread's parent gets thread_ts == ts once it has replies.
            if let Some(t) = &thread_ts
                && let Some(p) = c.messages.iter_mut().find(|m| &m.ts == t)
            {
                p.thread_ts = Some(t.clone());
            }
            c.messages.push(Msg {
                ts: ts.clone(),
                thread_ts: thread_ts.clone(),
                text: text.clone(),
                user: BOT_USER.into(),
                bot_id: Some(BOT_ID.into()),
                reply_broadcast: broadcast,
                edited: false,
                deleted: false,
            });
            let mut message = json!({"type": "message", "text": text, "user": BOT_USER,
                "bot_id": BOT_ID, "ts": ts, "team": TEAM});
            if let Some(t) = &thread_ts {
                message["thread_ts"] = json!(t);
            }
            Ok(json!({"ok": true, "channel": channel, "ts": ts, "message": message}))
        })
    }

    fn update(
        &self,
        args: &Map<String, Value>,
        v: &mut Vec<String>,
    ) -> Result<Value, &'static str> {
        let channel = self.check_channel(args, v, true)?;
        let Some(ts) = args.get("ts").and_then(Value::as_str).map(str::to_string) else {
            v.push("chat.update without ts".into());
            return Err("message_not_found");
        };
        let text = args
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if text.is_empty() && !args.contains_key("blocks") {
            v.push("chat.update without text".into());
            return Err("no_text");
        }
        self.with(|s| {
            let c = s.channels.get_mut(&channel).ok_or("channel_not_found")?;
            let m = c
                .messages
                .iter_mut()
                .find(|m| m.ts == ts && !m.deleted)
                .ok_or("message_not_found")?;
            if m.bot_id.as_deref() != Some(BOT_ID) {
                return Err("cant_update_message");
            }
            m.text = text.clone();
            m.edited = true;
            Ok(
                json!({"ok": true, "channel": channel, "ts": ts, "text": text,
                "message": {"type": "message", "text": text, "user": BOT_USER, "bot_id": BOT_ID}}),
            )
        })
    }

    fn delete(
        &self,
        args: &Map<String, Value>,
        v: &mut Vec<String>,
    ) -> Result<Value, &'static str> {
        let channel = self.check_channel(args, v, false)?;
        let Some(ts) = args.get("ts").and_then(Value::as_str).map(str::to_string) else {
            v.push("chat.delete without ts".into());
            return Err("message_not_found");
        };
        self.with(|s| {
            let c = s.channels.get_mut(&channel).ok_or("channel_not_found")?;
            let m = c
                .messages
                .iter_mut()
                .find(|m| m.ts == ts && !m.deleted)
                .ok_or("message_not_found")?;
            if m.bot_id.as_deref() != Some(BOT_ID) {
                return Err("cant_delete_message");
            }
            m.deleted = true;
            Ok(json!({"ok": true, "channel": channel, "ts": ts}))
        })
    }
}

/// A signed Events API request for the HTTP mode (body, timestamp header, signature header).
pub fn signed(secret: &str, body: &str, at_unix: i64) -> (String, String) {
    let ts = at_unix.to_string();
    let sig = sign(secret, &ts, body);
    (ts, sig)
}
