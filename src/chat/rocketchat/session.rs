//! The realtime session: connect, log in, subscribe, backfill over REST, then receive.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use tokio::sync::mpsc;

use super::RocketChatAdapter;
use super::ddp::{DdpConnection, DdpError, Event};
use super::decode::{self, RcMessage, decode_message};
use super::rest::RestError;
use crate::chat::InboundSink;

/// Page size for backfill (Rocket.Chat's default upper count limit is 100).
const BACKFILL_PAGE: usize = 100;
/// Backfill asks for a little more than the gap: clocks and `_updatedAt` are not exact, and
/// the dedupe drops what was already emitted.
const BACKFILL_MARGIN: chrono::TimeDelta = chrono::TimeDelta::seconds(2);
/// A quiet websocket is pinged after this long, and dropped after twice this long.
const IDLE: Duration = Duration::from_secs(30);

/// What a backfill found: changed messages oldest first, and deletions `(rid, _id, when)`.
type Backfill = (Vec<RcMessage>, Vec<(String, String, DateTime<Utc>)>);

/// Why one connected session ended.
pub(super) enum SessionEnd {
    SinkClosed,
    Fatal(String),
    Retry { reason: String, was_up: bool },
}
/// Stops the websocket reader when its session ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
fn iso(d: DateTime<Utc>) -> String {
    d.to_rfc3339_opts(SecondsFormat::Millis, true)
}
impl RocketChatAdapter {
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
    pub(super) async fn session(&self, sink: &InboundSink) -> SessionEnd {
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
        crate::health::up(self);
        self.connected.fire();
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
}
