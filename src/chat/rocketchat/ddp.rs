//! The DDP realtime connection (`<base>/websocket`): connect, answer pings, log in with the
//! resume token, subscribe to `stream-room-messages` and hand back message events.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

#[derive(Debug, thiserror::Error)]
pub enum DdpError {
    /// The connection failed or dropped: reconnect.
    #[error("connection: {0}")]
    Connection(String),
    /// The server refused the resume token.
    #[error("login refused: {0}")]
    LoginRefused(String),
}

/// What the realtime stream delivered.
#[derive(Debug)]
pub enum Event {
    /// A message inserted or updated (`args[0]` of a `stream-room-messages` change).
    Message(Value),
    /// A message was deleted (`stream-notify-room`, event `<rid>/deleteMessage`).
    Deleted { rid: String, id: String },
}

pub struct DdpConnection {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pending: VecDeque<Event>,
    next_id: u64,
    /// Nothing heard for this long: ping; twice: the connection is dead.
    idle: Duration,
}

fn err(e: impl std::fmt::Display) -> DdpError {
    DdpError::Connection(e.to_string())
}

impl DdpConnection {
    /// Opens the websocket and completes the DDP `connect` handshake.
    pub async fn connect(url: &str, timeout: Duration, idle: Duration) -> Result<Self, DdpError> {
        let (ws, _) = tokio::time::timeout(timeout, tokio_tungstenite::connect_async(url))
            .await
            .map_err(|_| err("websocket connect timed out"))?
            .map_err(err)?;
        let mut conn = DdpConnection {
            ws,
            pending: VecDeque::new(),
            next_id: 0,
            idle,
        };
        conn.send(json!({"msg": "connect", "version": "1", "support": ["1"]}))
            .await?;
        conn.await_frame(timeout, |f| match f["msg"].as_str() {
            Some("connected") => Some(Ok(())),
            Some("failed") => Some(Err(err(format!("server refused DDP version: {f}")))),
            _ => None,
        })
        .await?;
        Ok(conn)
    }

    async fn send(&mut self, v: Value) -> Result<(), DdpError> {
        self.ws
            .send(WsMessage::Text(v.to_string().into()))
            .await
            .map_err(err)
    }

    fn fresh_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{}", self.next_id)
    }

    /// Logs in with a resume token (a personal access token or a REST login token).
    pub async fn login(&mut self, token: &str, timeout: Duration) -> Result<(), DdpError> {
        let id = self.fresh_id("login");
        self.send(json!({
            "msg": "method", "method": "login", "id": id, "params": [{"resume": token}]
        }))
        .await?;
        self.await_frame(timeout, |f| {
            if f["msg"] != "result" || f["id"] != id.as_str() {
                return None;
            }
            if f.get("error").is_some_and(|e| !e.is_null()) {
                let e = &f["error"];
                let reason = e["reason"]
                    .as_str()
                    .or(e["message"].as_str())
                    .unwrap_or("login refused");
                return Some(Err(DdpError::LoginRefused(reason.to_string())));
            }
            Some(Ok(()))
        })
        .await
    }

    /// Subscribes to each `(stream, event)`: `stream-room-messages` with a room id or
    /// `__my_messages__`, `stream-notify-room` with `<rid>/deleteMessage`. Returns the events
    /// the server refused (`nosub`).
    pub async fn subscribe(
        &mut self,
        streams: &[(&str, String)],
        timeout: Duration,
    ) -> Result<Vec<String>, DdpError> {
        let mut waiting = HashSet::new();
        let mut by_id = Vec::new();
        for (name, s) in streams {
            let id = self.fresh_id("sub");
            self.send(json!({
                "msg": "sub", "id": id, "name": name, "params": [s, false]
            }))
            .await?;
            waiting.insert(id.clone());
            by_id.push((id, s.clone()));
        }
        let mut refused = Vec::new();
        while !waiting.is_empty() {
            let done = self
                .await_frame(timeout, |f| match f["msg"].as_str() {
                    Some("ready") => Some(Ok(f["subs"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|s| s.as_str().map(|s| (s.to_string(), true)))
                                .collect::<Vec<_>>()
                        })
                        .unwrap_or_default())),
                    Some("nosub") => f["id"].as_str().map(|id| Ok(vec![(id.to_string(), false)])),
                    _ => None,
                })
                .await?;
            for (id, ok) in done {
                if waiting.remove(&id)
                    && !ok
                    && let Some((_, s)) = by_id.iter().find(|(i, _)| *i == id)
                {
                    refused.push(s.clone());
                }
            }
        }
        Ok(refused)
    }

    /// Reads frames until `pick` accepts one; answers pings and keeps message events for
    /// [`DdpConnection::next_event`] meanwhile.
    async fn await_frame<T>(
        &mut self,
        timeout: Duration,
        mut pick: impl FnMut(&Value) -> Option<Result<T, DdpError>>,
    ) -> Result<T, DdpError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.read_frame())
                .await
                .map_err(|_| err("the server did not answer in time"))??;
            let Some(frame) = frame else { continue };
            if let Some(result) = pick(&frame) {
                return result;
            }
            if let Some(ev) = event_of(&frame) {
                self.pending.push_back(ev);
            }
        }
    }

    /// One parsed frame (`None` for frames that are not JSON objects, or pings answered).
    async fn read_frame(&mut self) -> Result<Option<Value>, DdpError> {
        let msg = self
            .ws
            .next()
            .await
            .ok_or_else(|| err("the server closed the connection"))?
            .map_err(err)?;
        let text = match msg {
            WsMessage::Text(t) => t,
            WsMessage::Close(_) => return Err(err("the server closed the connection")),
            WsMessage::Ping(p) => {
                self.ws.send(WsMessage::Pong(p)).await.map_err(err)?;
                return Ok(None);
            }
            _ => return Ok(None),
        };
        let frame: Value = match serde_json::from_str(text.as_str()) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                tracing::warn!(
                    len = text.len(),
                    "rocketchat: skipping a malformed DDP frame"
                );
                return Ok(None);
            }
        };
        if frame["msg"] == "ping" {
            let mut pong = json!({"msg": "pong"});
            if let Some(id) = frame.get("id") {
                pong["id"] = id.clone();
            }
            self.send(pong).await?;
            return Ok(None);
        }
        Ok(Some(frame))
    }

    /// The next message event; pings the server when it has been quiet for a while.
    pub async fn next_event(&mut self) -> Result<Event, DdpError> {
        let mut quiet_rounds = 0;
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Ok(ev);
            }
            match tokio::time::timeout(self.idle, self.read_frame()).await {
                Err(_) => {
                    quiet_rounds += 1;
                    if quiet_rounds >= 2 {
                        return Err(err("no answer to our ping: the connection is dead"));
                    }
                    let id = self.fresh_id("keepalive");
                    self.send(json!({"msg": "ping", "id": id})).await?;
                }
                Ok(frame) => {
                    quiet_rounds = 0;
                    if let Some(frame) = frame?
                        && let Some(ev) = event_of(&frame)
                    {
                        return Ok(ev);
                    }
                }
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// The message change or deletion a frame carries, if any.
fn event_of(frame: &Value) -> Option<Event> {
    if frame["msg"] != "changed" {
        return None;
    }
    let arg = frame["fields"]["args"].get(0);
    match frame["collection"].as_str() {
        Some("stream-room-messages") => match arg {
            Some(m @ Value::Object(_)) => Some(Event::Message(m.clone())),
            _ => {
                tracing::warn!(
                    "rocketchat: skipping a stream-room-messages event without a message"
                );
                None
            }
        },
        Some("stream-notify-room") => {
            let name = frame["fields"]["eventName"].as_str()?;
            let rid = name.strip_suffix("/deleteMessage")?;
            match arg.and_then(|a| a["_id"].as_str()) {
                Some(id) if !rid.is_empty() => Some(Event::Deleted {
                    rid: rid.to_string(),
                    id: id.to_string(),
                }),
                _ => {
                    tracing::warn!("rocketchat: skipping a deleteMessage event without an _id");
                    None
                }
            }
        }
        _ => None,
    }
}
