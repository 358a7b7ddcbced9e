//! A fake Rocket.Chat for tests: REST v1 and the DDP realtime websocket on loopback, with the
//! documented JSON shapes (ISO dates over REST, EJSON `{"$date": ms}` over DDP), auth headers,
//! error bodies, rate-limit headers and 429s. Anything a real server would reject is recorded
//! as a violation, and `assert_no_violations` fails the test.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct FakeMessage {
    pub id: String,
    pub rid: String,
    pub msg: String,
    pub ts: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub user_id: String,
    pub username: String,
    pub name: String,
    pub tmid: Option<String>,
    pub tshow: bool,
    pub alias: Option<String>,
    pub t: Option<String>,
    pub tcount: u32,
    pub deleted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
struct User {
    id: String,
    username: String,
    name: String,
    password: String,
    token: String,
    totp: bool,
}

#[derive(Debug, Clone)]
struct Room {
    id: String,
    name: String,
}

struct Store {
    users: Vec<User>,
    rooms: Vec<Room>,
    messages: Vec<FakeMessage>,
    index: HashMap<String, usize>,
    violations: Vec<String>,
    windows: HashMap<String, (i64, u32)>,
    rate_limit: u32,
    rate_window_ms: i64,
    forced_429: u32,
    rate_limited: u32,
    send_delay: Option<Duration>,
    /// Answer a taken `_id` with a generic error instead of Mongo's duplicate key text.
    generic_duplicate_error: bool,
    calls: HashMap<String, u32>,
    next_id: u64,
    last_ts_ms: i64,
}

struct Inner {
    store: Mutex<Store>,
    events: broadcast::Sender<FakeMessage>,
    raw: broadcast::Sender<String>,
    generation: watch::Sender<u64>,
    down: AtomicBool,
    ping_interval: Duration,
    sessions: AtomicU64,
    subscriptions: AtomicU64,
}

pub struct FakeRocketChat {
    inner: Arc<Inner>,
    pub addr: SocketAddr,
    server: Mutex<Option<JoinHandle<()>>>,
}

pub const BOT_USER_ID: &str = "fLareBotUser0001";
pub const BOT_USERNAME: &str = "flare";
pub const BOT_TOKEN: &str = "pat-flare-bot-secret";
pub const BOT_PASSWORD: &str = "bot-password";

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn iso(d: DateTime<Utc>) -> String {
    d.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn ejson(d: DateTime<Utc>) -> Value {
    json!({"$date": d.timestamp_millis()})
}

impl FakeMessage {
    fn to_json(&self, ddp: bool) -> Value {
        let date = |d: DateTime<Utc>| if ddp { ejson(d) } else { json!(iso(d)) };
        let mut v = json!({
            "_id": self.id,
            "rid": self.rid,
            "msg": self.msg,
            "ts": date(self.ts),
            "u": {"_id": self.user_id, "username": self.username, "name": self.name},
            "_updatedAt": date(self.updated_at),
            "mentions": [],
            "channels": [],
        });
        if let Some(e) = self.edited_at {
            v["editedAt"] = date(e);
            v["editedBy"] = json!({"_id": self.user_id, "username": self.username});
        }
        if let Some(t) = &self.tmid {
            v["tmid"] = json!(t);
        }
        if self.tshow {
            v["tshow"] = json!(true);
        }
        if let Some(a) = &self.alias {
            v["alias"] = json!(a);
        }
        if let Some(t) = &self.t {
            v["t"] = json!(t);
        }
        if self.tcount > 0 {
            v["tcount"] = json!(self.tcount);
            v["replies"] = json!([]);
            v["tlm"] = date(self.updated_at);
        }
        v
    }
}

fn error(status: StatusCode, error: &str, error_type: Option<&str>) -> (StatusCode, Value) {
    let mut body = json!({"success": false, "error": error});
    if let Some(t) = error_type {
        body["errorType"] = json!(t);
    }
    (status, body)
}

impl Store {
    fn fresh_id(&mut self) -> String {
        self.next_id += 1;
        format!("fakeMsg{:010}", self.next_id)
    }

    /// Strictly increasing server time, as Mongo dates from one server usually are.
    fn now(&mut self) -> DateTime<Utc> {
        let ms = now_ms().max(self.last_ts_ms + 1);
        self.last_ts_ms = ms;
        Utc.timestamp_millis_opt(ms)
            .single()
            .unwrap_or_else(Utc::now)
    }

    fn room(&self, key: &str) -> Option<Room> {
        let key = key.trim_start_matches('#');
        self.rooms
            .iter()
            .find(|r| r.id == key || r.name == key)
            .cloned()
    }

    fn user_by_name(&mut self, username: &str) -> User {
        if let Some(u) = self.users.iter().find(|u| u.username == username) {
            return u.clone();
        }
        let u = User {
            id: format!("user{:012}", self.users.len()),
            username: username.to_string(),
            name: format!("{username} (display)"),
            password: String::new(),
            token: format!("token-{username}"),
            totp: false,
        };
        self.users.push(u.clone());
        u
    }

    fn insert(&mut self, m: FakeMessage) {
        self.index.insert(m.id.clone(), self.messages.len());
        self.messages.push(m);
    }

    fn get_mut(&mut self, id: &str) -> Option<&mut FakeMessage> {
        let i = *self.index.get(id)?;
        self.messages.get_mut(i)
    }

    fn violation(&mut self, v: impl Into<String>) {
        let v = v.into();
        eprintln!("fake rocket.chat violation: {v}");
        self.violations.push(v);
    }
}

pub struct FakeOptions {
    pub rate_limit: u32,
    pub rate_window: Duration,
    pub ping_interval: Duration,
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            rate_limit: 10_000,
            rate_window: Duration::from_secs(60),
            ping_interval: Duration::from_millis(500),
        }
    }
}

impl FakeRocketChat {
    pub async fn start() -> FakeRocketChat {
        Self::start_with(FakeOptions::default()).await
    }

    pub async fn start_with(opts: FakeOptions) -> FakeRocketChat {
        let bot = User {
            id: BOT_USER_ID.into(),
            username: BOT_USERNAME.into(),
            name: "Flare Bot".into(),
            password: BOT_PASSWORD.into(),
            token: BOT_TOKEN.into(),
            totp: false,
        };
        let store = Store {
            users: vec![bot],
            rooms: vec![
                Room {
                    id: "GENERAL".into(),
                    name: "general".into(),
                },
                Room {
                    id: "opsRoomId0000001".into(),
                    name: "ops".into(),
                },
            ],
            messages: Vec::new(),
            index: HashMap::new(),
            violations: Vec::new(),
            windows: HashMap::new(),
            rate_limit: opts.rate_limit,
            rate_window_ms: opts.rate_window.as_millis() as i64,
            forced_429: 0,
            rate_limited: 0,
            send_delay: None,
            generic_duplicate_error: false,
            calls: HashMap::new(),
            next_id: 0,
            last_ts_ms: 0,
        };
        let inner = Arc::new(Inner {
            store: Mutex::new(store),
            events: broadcast::channel(65_536).0,
            raw: broadcast::channel(64).0,
            generation: watch::channel(0).0,
            down: AtomicBool::new(false),
            ping_interval: opts.ping_interval,
            sessions: AtomicU64::new(0),
            subscriptions: AtomicU64::new(0),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake rocket.chat");
        let addr = listener.local_addr().expect("local addr");
        let server = tokio::spawn(serve(listener, inner.clone()));
        FakeRocketChat {
            inner,
            addr,
            server: Mutex::new(Some(server)),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.inner.store.lock().expect("fake store")
    }

    pub fn add_room(&self, name: &str) -> String {
        let mut s = self.store();
        let id = format!("room{:012}", s.rooms.len());
        s.rooms.push(Room {
            id: id.clone(),
            name: name.into(),
        });
        id
    }

    /// The direct-message room between the bot and `username`, once one was created.
    pub fn dm_room(&self, username: &str) -> Option<String> {
        let s = self.store();
        let bot = s
            .users
            .first()
            .map(|u| u.username.clone())
            .unwrap_or_default();
        s.rooms
            .iter()
            .find(|r| r.name == format!("{bot}{username}"))
            .map(|r| r.id.clone())
    }

    pub fn room_id(&self, name: &str) -> String {
        self.store().room(name).expect("room exists").id
    }

    /// A login that needs a second factor.
    pub fn add_user(&self, username: &str, password: &str, totp: bool) {
        let mut s = self.store();
        let mut u = s.user_by_name(username);
        u.password = password.into();
        u.totp = totp;
        if let Some(x) = s.users.iter_mut().find(|x| x.username == username) {
            *x = u;
        }
    }

    /// A person writes in `room` (name or id); returns the new message's `_id`.
    pub fn post_as(&self, user: &str, room: &str, text: &str, tmid: Option<&str>) -> String {
        self.post_full(user, room, text, tmid, None)
    }

    /// A system message (`t` set, e.g. `uj` for a user joining).
    pub fn system_message(&self, user: &str, room: &str, t: &str) -> String {
        self.post_full(user, room, "", None, Some(t))
    }

    fn post_full(
        &self,
        user: &str,
        room: &str,
        text: &str,
        tmid: Option<&str>,
        t: Option<&str>,
    ) -> String {
        let (m, root) = {
            let mut s = self.store();
            let u = s.user_by_name(user);
            let rid = s.room(room).expect("room exists").id;
            let id = s.fresh_id();
            let ts = s.now();
            let m = FakeMessage {
                id: id.clone(),
                rid,
                msg: text.into(),
                ts,
                updated_at: ts,
                edited_at: None,
                user_id: u.id,
                username: u.username,
                name: u.name,
                tmid: tmid.map(str::to_string),
                tshow: false,
                alias: None,
                t: t.map(str::to_string),
                tcount: 0,
                deleted_at: None,
            };
            s.insert(m.clone());
            let root = tmid.and_then(|r| bump_thread(&mut s, r));
            (m, root)
        };
        let _ = self.inner.events.send(m.clone());
        if let Some(r) = root {
            let _ = self.inner.events.send(r);
        }
        m.id
    }

    /// Someone edits a message: same `_id`, new text and `editedAt`.
    pub fn edit(&self, id: &str, text: &str) {
        let m = {
            let mut s = self.store();
            let now = s.now();
            let m = s.get_mut(id).expect("message exists");
            m.msg = text.into();
            m.edited_at = Some(now);
            m.updated_at = now;
            m.clone()
        };
        let _ = self.inner.events.send(m);
    }

    /// Someone deletes a message.
    pub fn delete(&self, id: &str) {
        let m = {
            let mut s = self.store();
            let now = s.now();
            let m = s.get_mut(id).expect("message exists");
            m.deleted_at = Some(now);
            m.updated_at = now;
            m.clone()
        };
        let _ = self.inner.events.send(m);
    }

    /// The server re-emits a message unchanged but for `_updatedAt` (as on a reaction).
    pub fn reemit(&self, id: &str) {
        let m = {
            let mut s = self.store();
            let now = s.now();
            let m = s.get_mut(id).expect("message exists");
            m.updated_at = now;
            m.clone()
        };
        let _ = self.inner.events.send(m);
    }

    /// Sends a raw text frame to every connected websocket.
    pub fn inject_raw(&self, frame: &str) {
        let _ = self.inner.raw.send(frame.to_string());
    }

    /// Messages in a room (name or id), oldest first, deleted ones left out.
    pub fn messages(&self, room: &str) -> Vec<FakeMessage> {
        let s = self.store();
        let rid = s.room(room).expect("room exists").id;
        s.messages
            .iter()
            .filter(|m| m.rid == rid && m.deleted_at.is_none())
            .cloned()
            .collect()
    }

    pub fn violations(&self) -> Vec<String> {
        self.store().violations.clone()
    }

    pub fn assert_no_violations(&self) {
        let v = self.violations();
        assert!(v.is_empty(), "requests Rocket.Chat would reject: {v:#?}");
    }

    pub fn set_rate_limit(&self, limit: u32, window: Duration) {
        let mut s = self.store();
        s.rate_limit = limit;
        s.rate_window_ms = window.as_millis() as i64;
        s.windows.clear();
    }

    /// The next `n` API calls get a 429 with a reset `reset_in` from now.
    pub fn force_429(&self, n: u32, reset_in: Duration) {
        let mut s = self.store();
        s.forced_429 = n;
        let key = "__forced__".to_string();
        s.windows
            .insert(key, (now_ms() + reset_in.as_millis() as i64, 0));
    }

    pub fn rate_limited(&self) -> u32 {
        self.store().rate_limited
    }

    pub fn calls(&self, endpoint: &str) -> u32 {
        self.store().calls.get(endpoint).copied().unwrap_or(0)
    }

    /// A taken `_id` is refused with a generic error rather than the duplicate key text.
    pub fn set_generic_duplicate_error(&self, on: bool) {
        self.store().generic_duplicate_error = on;
    }

    /// `chat.sendMessage` stores and broadcasts at once, but answers only after `delay`.
    pub fn set_send_delay(&self, delay: Option<Duration>) {
        self.store().send_delay = delay;
    }

    /// How many DDP sessions have logged in so far.
    pub fn ddp_logins(&self) -> u64 {
        self.inner.sessions.load(Ordering::SeqCst)
    }

    /// How many `stream-room-messages` subscriptions are live right now.
    pub fn live_subscriptions(&self) -> u64 {
        self.inner.subscriptions.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` subscriptions are live.
    pub async fn wait_subscribed(&self, n: u64) {
        let waited = tokio::time::timeout(Duration::from_secs(10), async {
            while self.live_subscriptions() < n {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(waited.is_ok(), "no live subscription within 10s");
    }

    /// The server goes away: websockets drop, new connections are refused for `down_for`
    /// (people keep writing into its store meanwhile), then it listens again on the same port.
    pub async fn restart(&self, down_for: Duration) {
        self.inner.down.store(true, Ordering::SeqCst);
        let old = self.server.lock().expect("server").take();
        if let Some(h) = old {
            h.abort();
            let _ = h.await;
        }
        self.inner.generation.send_modify(|g| *g += 1);
        let inner = self.inner.clone();
        let addr = self.addr;
        let handle = tokio::spawn(async move {
            tokio::time::sleep(down_for).await;
            let mut listener = None;
            for _ in 0..50 {
                match tokio::net::TcpListener::bind(addr).await {
                    Ok(l) => {
                        listener = Some(l);
                        break;
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
            let Some(listener) = listener else {
                eprintln!("fake rocket.chat could not listen again on {addr}");
                return;
            };
            inner.down.store(false, Ordering::SeqCst);
            serve(listener, inner).await;
        });
        *self.server.lock().expect("server") = Some(handle);
    }

    pub fn is_down(&self) -> bool {
        self.inner.down.load(Ordering::SeqCst)
    }
}

impl Drop for FakeRocketChat {
    fn drop(&mut self) {
        if let Ok(mut s) = self.server.lock()
            && let Some(h) = s.take()
        {
            h.abort();
        }
        self.inner.generation.send_modify(|g| *g += 1);
    }
}

fn bump_thread(s: &mut Store, root: &str) -> Option<FakeMessage> {
    let now = s.now();
    let r = s.get_mut(root)?;
    r.tcount += 1;
    r.updated_at = now;
    Some(r.clone())
}

async fn serve(listener: tokio::net::TcpListener, inner: Arc<Inner>) {
    let app = Router::new()
        .route("/websocket", get(websocket))
        .route("/api/v1/{endpoint}", any(api))
        .with_state(inner);
    let _ = axum::serve(listener, app).await;
}

/// A parameter's type in the REST API's OpenAPI spec (`schema.type`).
#[derive(Debug, Clone, Copy)]
enum ParamType {
    Str,
    Bool,
    /// `integer`: a whole number.
    Int,
    /// `number`.
    Num,
    /// An object the spec gives no fields for (`customFields`).
    Object,
    /// An object whose fields the spec lists, checked like the body itself.
    Fields(&'static [Param]),
    Array,
    /// `schema: {}`: the spec says nothing of the type.
    Any,
}

impl ParamType {
    /// The spec's word for the type.
    fn name(self) -> &'static str {
        match self {
            ParamType::Str => "string",
            ParamType::Bool => "boolean",
            ParamType::Int => "integer",
            ParamType::Num => "number",
            ParamType::Object | ParamType::Fields(_) => "object",
            ParamType::Array => "array",
            ParamType::Any => "any",
        }
    }
}

/// One body or query parameter: name, type, and whether the spec marks it required.
#[derive(Debug, Clone, Copy)]
struct Param(&'static str, ParamType, bool);

const fn req(name: &'static str, t: ParamType) -> Param {
    Param(name, t, true)
}

const fn opt(name: &'static str, t: ParamType) -> Param {
    Param(name, t, false)
}

/// The fields of `chat.sendMessage`'s `message` (messaging.yaml, `/api/v1/chat.sendMessage`).
/// Two entries differ from the document's schema, which is wrong there: `_id` is missing from
/// its field list though its description says this endpoint is the one that takes an `_id`,
/// and `tshow` is typed string though described as "true" to show a reply in the channel;
/// the server's own request schema has `_id` a string and `tshow` a boolean.
const SEND_MESSAGE_FIELDS: &[Param] = {
    use ParamType::*;
    &[
        opt("_id", Str),
        opt("t", Str),
        req("rid", Str),
        opt("msg", Str),
        opt("alias", Str),
        opt("emoji", Str),
        opt("avatar", Str),
        opt("attachments", Array),
        opt("tmid", Str),
        opt("tshow", Bool),
        opt("blocks", Array),
        opt("customFields", Object),
    ]
};

/// What Rocket.Chat's official OpenAPI spec (the REST API reference, one YAML document per
/// group of endpoints) says each REST endpoint the fake serves takes: its HTTP method, and its parameters with their types
/// (query parameters for GET, JSON body fields for POST). The auth headers are checked apart.
/// Where the spec wants one of two parameters (`roomId` or `roomName`, `user` + `password` or
/// `resume`), both are optional here and the endpoint's handler checks the pair.
struct Endpoint {
    name: &'static str,
    method: &'static str,
    params: &'static [Param],
}

const REST_SPEC: &[Endpoint] = {
    use ParamType::*;
    &[
        // authentication.yaml, /api/v1/login
        Endpoint {
            name: "login",
            method: "POST",
            params: &[
                opt("user", Str),
                opt("password", Str),
                opt("resume", Str),
                opt("code", Str),
            ],
        },
        // authentication.yaml, /api/v1/me: nothing but the auth headers
        Endpoint {
            name: "me",
            method: "GET",
            params: &[],
        },
        // rooms.yaml, /api/v1/rooms.info
        Endpoint {
            name: "rooms.info",
            method: "GET",
            params: &[opt("roomId", Str), opt("roomName", Str), opt("fields", Str)],
        },
        // rooms.yaml, /api/v1/channels.info
        Endpoint {
            name: "channels.info",
            method: "GET",
            params: &[opt("roomId", Str), opt("roomName", Str)],
        },
        // rooms.yaml, /api/v1/channels.history
        Endpoint {
            name: "channels.history",
            method: "GET",
            params: &[
                opt("roomId", Str),
                opt("roomName", Str),
                opt("sort", Any),
                opt("count", Int),
                opt("offset", Int),
                opt("latest", Str),
                opt("oldest", Str),
                opt("inclusive", Bool),
                opt("showThreadMessages", Bool),
                opt("unreads", Bool),
            ],
        },
        // messaging.yaml, /api/v1/dm.create (operationId post-api-v1-im.create: im.* and
        // dm.* are the same endpoints); `username` or `usernames`
        Endpoint {
            name: "im.create",
            method: "POST",
            params: &[
                opt("username", Str),
                opt("usernames", Str),
                opt("excludeSelf", Bool),
            ],
        },
        // messaging.yaml, /api/v1/chat.sendMessage
        Endpoint {
            name: "chat.sendMessage",
            method: "POST",
            params: &[
                req("message", Fields(SEND_MESSAGE_FIELDS)),
                opt("previewUrls", Array),
            ],
        },
        // messaging.yaml, /api/v1/chat.update
        Endpoint {
            name: "chat.update",
            method: "POST",
            params: &[
                req("roomId", Str),
                req("msgId", Str),
                req("text", Str),
                opt("previewUrls", Array),
                opt("customFields", Object),
            ],
        },
        // messaging.yaml, /api/v1/chat.delete: `roomId` + `msgId`, or `fileId`
        Endpoint {
            name: "chat.delete",
            method: "POST",
            params: &[
                opt("roomId", Str),
                opt("msgId", Str),
                opt("fileId", Str),
                opt("asUser", Bool),
            ],
        },
        // messaging.yaml, /api/v1/chat.getMessage
        Endpoint {
            name: "chat.getMessage",
            method: "GET",
            params: &[req("msgId", Str)],
        },
        // messaging.yaml, /api/v1/chat.syncMessages
        Endpoint {
            name: "chat.syncMessages",
            method: "GET",
            params: &[
                req("roomId", Str),
                opt("offset", Int),
                opt("count", Int),
                opt("sort", Any),
                opt("lastUpdate", Str),
                opt("next", Num),
                opt("previous", Num),
                opt("type", Str),
            ],
        },
    ]
};

fn rest_spec(endpoint: &str) -> Option<&'static Endpoint> {
    REST_SPEC.iter().find(|e| e.name == endpoint)
}

/// Whether `v` is of type `t`; a query parameter arrives as a string and must parse as `t`.
fn has_type(v: &Value, t: ParamType, query: bool) -> bool {
    use ParamType::*;
    if query {
        let Some(s) = v.as_str() else {
            return false;
        };
        return match t {
            Str | Any => true,
            Bool => matches!(s, "true" | "false"),
            Int => s.parse::<i64>().is_ok(),
            Num => s.parse::<f64>().is_ok_and(f64::is_finite),
            Object | Fields(_) => serde_json::from_str::<Value>(s).is_ok_and(|j| j.is_object()),
            Array => serde_json::from_str::<Value>(s).is_ok_and(|j| j.is_array()),
        };
    }
    match t {
        Str => v.is_string(),
        Bool => v.is_boolean(),
        Int => v.is_i64() || v.is_u64(),
        Num => v.is_number(),
        Object | Fields(_) => v.is_object(),
        Array => v.is_array(),
        Any => true,
    }
}

/// Checks `args` against the spec's `params`: no parameter it does not list, each of its type,
/// none it requires missing. `at` names the endpoint (and the enclosing field, if any).
fn check_params(
    at: &str,
    params: &[Param],
    args: &serde_json::Map<String, Value>,
    query: bool,
    out: &mut Vec<String>,
) {
    for (k, v) in args {
        match params.iter().find(|p| p.0 == k) {
            None => out.push(format!("{at}: `{k}` is not a parameter the spec lists")),
            Some(p) if !has_type(v, p.1, query) => out.push(format!(
                "{at}: `{k}` is not of the spec's type {}: {v}",
                p.1.name()
            )),
            Some(Param(_, ParamType::Fields(fields), _)) => {
                if let Value::Object(inner) = v {
                    check_params(&format!("{at} `{k}`"), fields, inner, query, out);
                }
            }
            Some(_) => {}
        }
    }
    for p in params.iter().filter(|p| p.2 && !args.contains_key(p.0)) {
        out.push(format!("{at}: required `{}` is missing", p.0));
    }
}

/// Everything about this request the spec does not allow; a wrong method is refused.
fn check_request(
    endpoint: &str,
    method: &Method,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    body: &Bytes,
) -> (Vec<String>, bool) {
    let mut out = Vec::new();
    let Some(spec) = rest_spec(endpoint) else {
        // Unknown endpoints are reported where they are dispatched.
        return (out, true);
    };
    let params = spec.params;
    if method.as_str() != spec.method {
        out.push(format!(
            "{endpoint} called with {method}, not {}",
            spec.method
        ));
        return (out, false);
    }
    let query_args: serde_json::Map<String, Value> = query
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    if *method == Method::GET {
        if !body.is_empty() {
            out.push(format!("{endpoint}: GET with a body"));
        }
        check_params(endpoint, params, &query_args, true, &mut out);
        return (out, true);
    }
    let json_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    if !json_type {
        out.push(format!(
            "{endpoint}: POST body is not sent as application/json"
        ));
    }
    for k in query.keys() {
        out.push(format!(
            "{endpoint}: query parameter `{k}` on a POST (the spec has a JSON body)"
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(args)) => check_params(endpoint, params, &args, false, &mut out),
        Ok(other) => out.push(format!("{endpoint}: body is not a JSON object: {other}")),
        Err(_) => out.push(format!("{endpoint}: body is not JSON")),
    }
    (out, true)
}

fn json_response(
    status: StatusCode,
    body: Value,
    headers: Vec<(&'static str, String)>,
) -> Response {
    let mut resp = (status, axum::Json(body)).into_response();
    for (k, v) in headers {
        if let Ok(v) = v.parse() {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

async fn api(
    AxState(inner): AxState<Arc<Inner>>,
    Path(endpoint): Path<String>,
    method: Method,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if inner.down.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "restarting").into_response();
    }
    let (status, body, rate_headers, delay) = {
        let mut s = inner.store.lock().expect("fake store");
        *s.calls.entry(endpoint.clone()).or_default() += 1;
        // The request against the spec: method, parameter names, types, required ones.
        let (problems, method_ok) = check_request(&endpoint, &method, &headers, &query, &body);
        for p in problems {
            s.violation(p);
        }
        if !method_ok {
            let (status, body) = error(StatusCode::BAD_REQUEST, "wrong method", None);
            return json_response(status, body, Vec::new());
        }
        // Rate limiter: a window per endpoint, headers on every answer.
        let now = now_ms();
        let (limit, window_ms) = (s.rate_limit, s.rate_window_ms);
        let w = s
            .windows
            .entry(endpoint.clone())
            .or_insert((now + window_ms, 0));
        if now >= w.0 {
            *w = (now + window_ms, 0);
        }
        w.1 += 1;
        let (reset, used) = *w;
        let mut rate_headers = vec![
            ("x-ratelimit-limit", limit.to_string()),
            (
                "x-ratelimit-remaining",
                (limit as i64 - used as i64).max(0).to_string(),
            ),
            ("x-ratelimit-reset", reset.to_string()),
        ];
        if s.forced_429 > 0 {
            s.forced_429 -= 1;
            s.rate_limited += 1;
            let forced_reset = s
                .windows
                .get("__forced__")
                .map(|w| w.0)
                .unwrap_or(now + 1000);
            rate_headers[1].1 = "0".into();
            rate_headers[2].1 = forced_reset.to_string();
            return too_many(rate_headers);
        }
        if used > limit {
            s.rate_limited += 1;
            return too_many(rate_headers);
        }
        let (status, body) = if endpoint == "login" {
            login(&mut s, &body)
        } else {
            match authenticate(&mut s, &headers) {
                Err(resp) => resp,
                Ok(user) => handle(&mut s, &inner, &endpoint, &query, &body, &user),
            }
        };
        let delay = if endpoint == "chat.sendMessage" {
            s.send_delay
        } else {
            None
        };
        (status, body, rate_headers, delay)
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    json_response(status, body, rate_headers)
}

fn too_many(headers: Vec<(&'static str, String)>) -> Response {
    json_response(
        StatusCode::TOO_MANY_REQUESTS,
        json!({
            "success": false,
            "error": "Error, too many requests. Please slow down. You must wait 1 seconds before \
                      trying this endpoint again. [error-too-many-requests]",
            "errorType": "error-too-many-requests"
        }),
        headers,
    )
}

fn unauthorized() -> (StatusCode, Value) {
    (
        StatusCode::UNAUTHORIZED,
        json!({"status": "error", "message": "You must be logged in to do this."}),
    )
}

fn authenticate(s: &mut Store, headers: &HeaderMap) -> Result<User, (StatusCode, Value)> {
    let token = headers.get("x-auth-token").and_then(|v| v.to_str().ok());
    let user_id = headers.get("x-user-id").and_then(|v| v.to_str().ok());
    let (Some(token), Some(user_id)) = (token, user_id) else {
        s.violation("REST call without X-Auth-Token and X-User-Id");
        return Err(unauthorized());
    };
    s.users
        .iter()
        .find(|u| u.id == user_id && u.token == token)
        .cloned()
        .ok_or_else(unauthorized)
}

fn login(s: &mut Store, body: &Bytes) -> (StatusCode, Value) {
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        s.violation("login body is not JSON");
        return error(StatusCode::BAD_REQUEST, "invalid body", None);
    };
    let user = req["user"].as_str().or(req["username"].as_str());
    let password = req["password"].as_str();
    let found = match (user, password, req["resume"].as_str()) {
        (Some(u), Some(p), _) => s
            .users
            .iter()
            .find(|x| x.username == u && !x.password.is_empty() && x.password == p)
            .cloned(),
        (_, _, Some(r)) => s.users.iter().find(|x| x.token == r).cloned(),
        _ => {
            s.violation("login without user/password or resume");
            None
        }
    };
    match found {
        Some(u) if u.totp && req["code"].is_null() => (
            StatusCode::UNAUTHORIZED,
            json!({
                "status": "error",
                "error": "totp-required",
                "message": "TOTP Required [totp-required]",
                "details": {"method": "totp", "codeGenerated": false, "availableMethods": ["totp"]}
            }),
        ),
        Some(u) => (
            StatusCode::OK,
            json!({
                "status": "success",
                "data": {
                    "authToken": u.token,
                    "userId": u.id,
                    "me": {"_id": u.id, "username": u.username, "name": u.name, "status": "online"}
                }
            }),
        ),
        None => (
            StatusCode::UNAUTHORIZED,
            json!({"status": "error", "error": "Unauthorized", "message": "Unauthorized"}),
        ),
    }
}

fn room_json(r: &Room) -> Value {
    json!({"_id": r.id, "name": r.name, "fname": r.name, "t": "c", "usersCount": 3,
           "_updatedAt": iso(Utc::now()), "default": false, "ro": false})
}

fn handle(
    s: &mut Store,
    inner: &Inner,
    endpoint: &str,
    query: &HashMap<String, String>,
    body: &Bytes,
    user: &User,
) -> (StatusCode, Value) {
    let body_json = || serde_json::from_slice::<Value>(body).ok();
    match endpoint {
        "me" => (
            StatusCode::OK,
            json!({"_id": user.id, "username": user.username, "name": user.name,
                   "status": "online", "active": true, "roles": ["bot"], "success": true}),
        ),
        "rooms.info" | "channels.info" => {
            let key = query.get("roomId").or(query.get("roomName"));
            let Some(key) = key else {
                s.violation(format!("{endpoint} without roomId or roomName"));
                return error(
                    StatusCode::BAD_REQUEST,
                    "The parameter \"roomId\" or \"roomName\" is required \
                     [error-roomid-param-not-provided]",
                    Some("error-roomid-param-not-provided"),
                );
            };
            let by_id = query.contains_key("roomId");
            let room = s
                .rooms
                .iter()
                .find(|r| if by_id { r.id == *key } else { r.name == *key })
                .cloned();
            match (room, endpoint) {
                (Some(r), "rooms.info") => (
                    StatusCode::OK,
                    json!({"room": room_json(&r), "success": true}),
                ),
                (Some(r), _) => (
                    StatusCode::OK,
                    json!({"channel": room_json(&r), "success": true}),
                ),
                (None, "rooms.info") => {
                    error(StatusCode::BAD_REQUEST, "not-allowed", Some("not-allowed"))
                }
                (None, _) => error(
                    StatusCode::BAD_REQUEST,
                    "The required \"roomId\" or \"roomName\" param provided does not match any \
                     channel [error-room-not-found]",
                    Some("error-room-not-found"),
                ),
            }
        }
        "im.create" => {
            let Some(username) = body_json().and_then(|b| {
                b.get("username")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            }) else {
                s.violation("im.create without username");
                return error(
                    StatusCode::BAD_REQUEST,
                    "Body param \"username\" or \"usernames\" is required [error-invalid-params]",
                    Some("error-invalid-params"),
                );
            };
            // Rocket.Chat names a direct-message room after its two members.
            let name = format!("{}{}", user.username, username);
            let id = match s.rooms.iter().find(|r| r.name == name) {
                Some(r) => r.id.clone(),
                None => {
                    let id = format!("dm{:012}", s.rooms.len());
                    s.rooms.push(Room {
                        id: id.clone(),
                        name,
                    });
                    id
                }
            };
            (
                StatusCode::OK,
                json!({"room": {"_id": id, "rid": id, "t": "d",
                                "usernames": [user.username, username]}, "success": true}),
            )
        }
        "chat.sendMessage" => {
            let Some(req) = body_json() else {
                s.violation("chat.sendMessage body is not JSON");
                return error(StatusCode::BAD_REQUEST, "invalid body", None);
            };
            let Some(m) = req.get("message").filter(|m| m.is_object()) else {
                s.violation("chat.sendMessage without message");
                return error(
                    StatusCode::BAD_REQUEST,
                    "The \"message\" parameter must be provided. [error-invalid-params]",
                    Some("error-invalid-params"),
                );
            };
            let Some(rid) = m["rid"].as_str() else {
                s.violation("chat.sendMessage without message.rid");
                return error(
                    StatusCode::BAD_REQUEST,
                    "The 'rid' property on the message object is missing.",
                    None,
                );
            };
            let Some(text) = m["msg"].as_str() else {
                s.violation("chat.sendMessage without message.msg");
                return error(StatusCode::BAD_REQUEST, "message without msg", None);
            };
            if text.chars().count() > 5000 {
                s.violation("chat.sendMessage longer than Message_MaxAllowedSize");
                return error(
                    StatusCode::BAD_REQUEST,
                    "error-message-size-exceeded",
                    Some("error-message-size-exceeded"),
                );
            }
            let Some(room) = s.rooms.iter().find(|r| r.id == rid).cloned() else {
                return error(StatusCode::BAD_REQUEST, "error-invalid-room", None);
            };
            if m.get("tshow").is_some_and(|t| t == true) && m["tmid"].as_str().is_none() {
                s.violation("tshow without tmid");
                return error(StatusCode::BAD_REQUEST, "invalid-params", None);
            }
            let tmid = m["tmid"].as_str().map(str::to_string);
            if let Some(t) = &tmid
                && !s.index.contains_key(t)
            {
                s.violation(format!("tmid {t} is not a message"));
                return error(StatusCode::BAD_REQUEST, "error-invalid-message", None);
            }
            let id = match m["_id"].as_str() {
                Some(_)
                    if s.index.contains_key(m["_id"].as_str().unwrap_or_default())
                        && s.generic_duplicate_error =>
                {
                    return error(StatusCode::BAD_REQUEST, "error-invalid-params", None);
                }
                Some(id) if s.index.contains_key(id) => {
                    // Mongo's unique index on _id: Rocket.Chat passes the error through.
                    return error(
                        StatusCode::BAD_REQUEST,
                        &format!(
                            "E11000 duplicate key error collection: rocketchat.rocketchat_message \
                             index: _id_ dup key: {{ _id: \"{id}\" }}"
                        ),
                        None,
                    );
                }
                Some(id) => id.to_string(),
                None => s.fresh_id(),
            };
            let ts = s.now();
            let msg = FakeMessage {
                id,
                rid: room.id.clone(),
                msg: text.to_string(),
                ts,
                updated_at: ts,
                edited_at: None,
                user_id: user.id.clone(),
                username: user.username.clone(),
                name: user.name.clone(),
                tmid: tmid.clone(),
                tshow: m["tshow"] == true,
                alias: m["alias"].as_str().map(str::to_string),
                t: None,
                tcount: 0,
                deleted_at: None,
            };
            s.insert(msg.clone());
            let _ = inner.events.send(msg.clone());
            if let Some(r) = tmid.and_then(|t| bump_thread(s, &t)) {
                let _ = inner.events.send(r);
            }
            (
                StatusCode::OK,
                json!({"message": msg.to_json(false), "success": true}),
            )
        }
        "chat.update" => {
            let req = body_json().unwrap_or(Value::Null);
            let (Some(rid), Some(mid), Some(text)) = (
                req["roomId"].as_str(),
                req["msgId"].as_str(),
                req["text"].as_str(),
            ) else {
                s.violation("chat.update needs roomId, msgId and text");
                return error(StatusCode::BAD_REQUEST, "error-invalid-params", None);
            };
            let now = s.now();
            let Some(m) = s.get_mut(mid) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "No message found with the id of \"msgId\".",
                    None,
                );
            };
            if m.rid != rid {
                return error(
                    StatusCode::BAD_REQUEST,
                    "The room id provided does not match where the message is from.",
                    None,
                );
            }
            m.msg = text.to_string();
            m.edited_at = Some(now);
            m.updated_at = now;
            let m = m.clone();
            let _ = inner.events.send(m.clone());
            (
                StatusCode::OK,
                json!({"message": m.to_json(false), "success": true}),
            )
        }
        "chat.delete" => {
            let req = body_json().unwrap_or(Value::Null);
            let (Some(rid), Some(mid)) = (req["roomId"].as_str(), req["msgId"].as_str()) else {
                s.violation("chat.delete needs roomId and msgId");
                return error(StatusCode::BAD_REQUEST, "error-invalid-params", None);
            };
            let now = s.now();
            match s.get_mut(mid) {
                Some(m) if m.rid == rid && m.deleted_at.is_none() => {
                    m.deleted_at = Some(now);
                    m.updated_at = now;
                    let m = m.clone();
                    let _ = inner.events.send(m.clone());
                    (
                        StatusCode::OK,
                        json!({"_id": m.id, "ts": now.timestamp_millis().to_string(),
                               "message": {"_id": m.id, "rid": m.rid,
                                           "u": {"_id": m.user_id, "username": m.username}},
                               "success": true}),
                    )
                }
                _ => error(StatusCode::BAD_REQUEST, "error-invalid-message", None),
            }
        }
        "chat.getMessage" => {
            let Some(mid) = query.get("msgId") else {
                s.violation("chat.getMessage without msgId");
                return error(
                    StatusCode::BAD_REQUEST,
                    "The \"msgId\" query parameter must be provided.",
                    None,
                );
            };
            match s.index.get(mid).and_then(|i| s.messages.get(*i)) {
                Some(m) if m.deleted_at.is_none() => (
                    StatusCode::OK,
                    json!({"message": m.to_json(false), "success": true}),
                ),
                _ => error(StatusCode::BAD_REQUEST, "Message not found", None),
            }
        }
        "chat.syncMessages" => {
            let Some(rid) = query.get("roomId") else {
                s.violation("chat.syncMessages without roomId");
                return error(
                    StatusCode::BAD_REQUEST,
                    "The required \"roomId\" query param is missing.",
                    None,
                );
            };
            let Some(last) = query.get("lastUpdate") else {
                s.violation("chat.syncMessages without lastUpdate");
                return error(
                    StatusCode::BAD_REQUEST,
                    "The required \"lastUpdate\" query param is missing.",
                    None,
                );
            };
            let Ok(last) = DateTime::parse_from_rfc3339(last) else {
                s.violation(format!(
                    "chat.syncMessages lastUpdate `{last}` is not a date"
                ));
                return error(
                    StatusCode::BAD_REQUEST,
                    "The \"lastUpdate\" query parameter must be a valid date.",
                    None,
                );
            };
            let last = last.with_timezone(&Utc);
            let count: usize = query
                .get("count")
                .and_then(|c| c.parse().ok())
                .unwrap_or(20);
            let offset: usize = query
                .get("offset")
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let mut updated: Vec<&FakeMessage> = s
                .messages
                .iter()
                .filter(|m| m.rid == *rid && m.updated_at > last && m.deleted_at.is_none())
                .collect();
            updated.sort_by_key(|m| std::cmp::Reverse(m.ts));
            let page: Vec<Value> = updated
                .into_iter()
                .skip(offset)
                .take(count.min(100))
                .map(|m| m.to_json(false))
                .collect();
            let deleted: Vec<Value> = s
                .messages
                .iter()
                .filter(|m| m.rid == *rid && m.deleted_at.is_some_and(|d| d > last))
                .map(|m| json!({"_id": m.id, "_deletedAt": iso(m.updated_at)}))
                .collect();
            (
                StatusCode::OK,
                json!({"result": {"updated": page, "deleted": deleted}, "success": true}),
            )
        }
        "channels.history" => {
            let Some(rid) = query.get("roomId") else {
                s.violation("channels.history without roomId");
                return error(
                    StatusCode::BAD_REQUEST,
                    "error-roomid-param-not-provided",
                    None,
                );
            };
            let parse = |k: &str| {
                query
                    .get(k)
                    .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
                    .map(|d| d.with_timezone(&Utc))
            };
            let oldest = parse("oldest");
            let latest = parse("latest");
            let count: usize = query
                .get("count")
                .and_then(|c| c.parse().ok())
                .unwrap_or(20);
            let mut msgs: Vec<&FakeMessage> = s
                .messages
                .iter()
                .filter(|m| m.rid == *rid && m.deleted_at.is_none())
                .filter(|m| oldest.is_none_or(|o| m.ts > o))
                .filter(|m| latest.is_none_or(|l| m.ts < l))
                .collect();
            msgs.sort_by_key(|m| std::cmp::Reverse(m.ts));
            let page: Vec<Value> = msgs
                .into_iter()
                .take(count)
                .map(|m| m.to_json(false))
                .collect();
            (StatusCode::OK, json!({"messages": page, "success": true}))
        }
        other => {
            s.violation(format!("unknown endpoint {other}"));
            error(StatusCode::NOT_FOUND, "Not found", None)
        }
    }
}

async fn websocket(AxState(inner): AxState<Arc<Inner>>, ws: WebSocketUpgrade) -> Response {
    if inner.down.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "restarting").into_response();
    }
    ws.on_upgrade(move |socket| ddp_session(socket, inner))
}

fn changed_frame(m: &FakeMessage, event_name: &str, room_name: &str) -> String {
    json!({
        "msg": "changed",
        "collection": "stream-room-messages",
        "id": "id",
        "fields": {
            "eventName": event_name,
            "args": [m.to_json(true), {"roomParticipant": true, "roomType": "c", "roomName": room_name}]
        }
    })
    .to_string()
}

async fn ddp_session(socket: WebSocket, inner: Arc<Inner>) {
    let (mut tx, mut rx) = socket.split();
    let mut events = inner.events.subscribe();
    let mut raw = inner.raw.subscribe();
    let mut generation = inner.generation.subscribe();
    let mut connected = false;
    let mut user: Option<User> = None;
    let mut streams: Vec<String> = Vec::new();
    let mut ping = tokio::time::interval(inner.ping_interval);
    ping.tick().await;
    let mut awaiting_pong = false;
    loop {
        let out: Option<String> = tokio::select! {
            frame = rx.next() => {
                let text = match frame {
                    Some(Ok(WsMessage::Text(t))) => t.to_string(),
                    Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                let mut s = inner.store.lock().expect("fake store");
                let Ok(f) = serde_json::from_str::<Value>(&text) else {
                    s.violation(format!("DDP frame is not JSON: {text}"));
                    continue;
                };
                let msg = f["msg"].as_str().unwrap_or_default();
                if !connected && msg != "connect" {
                    s.violation(format!("DDP `{msg}` before connect"));
                    continue;
                }
                match msg {
                    "connect" => {
                        if f["version"] != "1" {
                            Some(json!({"msg": "failed", "version": "1"}).to_string())
                        } else {
                            connected = true;
                            Some(json!({"msg": "connected", "session": "fakeSession"}).to_string())
                        }
                    }
                    "pong" => {
                        awaiting_pong = false;
                        None
                    }
                    "ping" => {
                        let mut p = json!({"msg": "pong"});
                        if let Some(id) = f.get("id") {
                            p["id"] = id.clone();
                        }
                        Some(p.to_string())
                    }
                    "method" if f["method"] == "login" => {
                        let id = f["id"].clone();
                        let resume = f["params"][0]["resume"].as_str().unwrap_or_default();
                        match s.users.iter().find(|u| !resume.is_empty() && u.token == resume) {
                            Some(u) => {
                                user = Some(u.clone());
                                inner.sessions.fetch_add(1, Ordering::SeqCst);
                                Some(json!({"msg": "result", "id": id, "result": {
                                    "id": u.id, "token": u.token,
                                    "tokenExpires": ejson(Utc::now() + chrono::TimeDelta::days(90)),
                                    "type": "resume"}}).to_string())
                            }
                            None => Some(json!({"msg": "result", "id": id, "error": {
                                "isClientSafe": true, "error": 403,
                                "reason": "You've been logged out by the server. Please log in again.",
                                "message": "You've been logged out by the server. Please log in again. [403]",
                                "errorType": "Meteor.Error"}}).to_string()),
                        }
                    }
                    "sub" => {
                        let id = f["id"].clone();
                        let stream = f["params"][0].as_str().unwrap_or_default().to_string();
                        let known = match f["name"].as_str() {
                            Some("stream-room-messages") => stream == "__my_messages__"
                                || s.rooms.iter().any(|r| r.id == stream),
                            Some("stream-notify-room") => stream
                                .strip_suffix("/deleteMessage")
                                .is_some_and(|rid| s.rooms.iter().any(|r| r.id == rid)),
                            _ => false,
                        };
                        if f["name"] != "stream-room-messages" && f["name"] != "stream-notify-room" {
                            s.violation(format!("sub to unexpected {}", f["name"]));
                            Some(json!({"msg": "nosub", "id": id}).to_string())
                        } else if user.is_none() || !known {
                            Some(json!({"msg": "nosub", "id": id, "error": {
                                "isClientSafe": true, "error": "not-allowed",
                                "reason": "Not allowed", "errorType": "Meteor.Error"}}).to_string())
                        } else {
                            streams.push(stream);
                            inner.subscriptions.fetch_add(1, Ordering::SeqCst);
                            Some(json!({"msg": "ready", "subs": [id]}).to_string())
                        }
                    }
                    "method" => Some(json!({"msg": "result", "id": f["id"], "error": {
                        "error": 404, "reason": "Method not found"}}).to_string()),
                    _ => None,
                }
            }
            ev = events.recv() => {
                match ev {
                    Ok(m) if m.deleted_at.is_some() => {
                        let event = format!("{}/deleteMessage", m.rid);
                        streams.contains(&event).then(|| json!({
                            "msg": "changed",
                            "collection": "stream-notify-room",
                            "id": "id",
                            "fields": {"eventName": event, "args": [{"_id": m.id}]}
                        }).to_string())
                    }
                    Ok(m) => {
                        let name = inner.store.lock().expect("fake store")
                            .rooms.iter().find(|r| r.id == m.rid).map(|r| r.name.clone())
                            .unwrap_or_default();
                        if streams.iter().any(|s| s == "__my_messages__") {
                            Some(changed_frame(&m, "__my_messages__", &name))
                        } else if streams.contains(&m.rid) {
                            Some(changed_frame(&m, &m.rid, &name))
                        } else {
                            None
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => None,
                    Err(_) => break,
                }
            }
            r = raw.recv() => r.ok(),
            _ = generation.changed() => break,
            _ = ping.tick() => {
                if awaiting_pong {
                    // Like Meteor: no pong, no connection.
                    break;
                }
                awaiting_pong = true;
                Some(json!({"msg": "ping"}).to_string())
            }
        };
        if let Some(out) = out
            && tx.send(WsMessage::Text(out.into())).await.is_err()
        {
            break;
        }
    }
    inner
        .subscriptions
        .fetch_sub(streams.len() as u64, Ordering::SeqCst);
}
