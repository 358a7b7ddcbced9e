//! Socket Mode: `apps.connections.open`, the websocket, acks, refreshes and reconnects.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;

use super::api::ApiError;
use super::events::string_fields;
use super::{BACKOFF, SlackAdapter, Work};
use crate::chat::Receipt;
use crate::retry::Backoff;

/// How long a new connection may take to open and say hello.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Our own keepalive ping, and how long silence means the connection is dead.
const PING_EVERY: Duration = Duration::from_secs(30);
const DEAD_AFTER: Duration = Duration::from_secs(90);

enum ConnEvent {
    /// Slack asked us to move to a new connection (`warning`, `refresh_requested`).
    Replace(u64),
    /// The connection ended.
    Closed(u64),
    /// `link_disabled`: Socket Mode is off for this app.
    Fatal(String),
}

enum OpenError {
    Fatal(anyhow::Error),
    Transient(String, Option<Duration>),
}

/// Runs Socket Mode until a fatal error. Keeps one connection, briefly two while moving to a
/// new one (the new one is up before the old one is closed).
pub(crate) async fn run(
    adapter: Arc<SlackAdapter>,
    work: mpsc::Sender<Work>,
) -> anyhow::Result<()> {
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
    let mut conns: HashMap<u64, oneshot::Sender<()>> = HashMap::new();
    let mut next_id: u64 = 0;
    let mut backoff = Backoff::new(BACKOFF);
    loop {
        if conns.is_empty() {
            next_id += 1;
            match open(&adapter, next_id, ev_tx.clone(), work.clone()).await {
                Ok(close) => {
                    conns.insert(next_id, close);
                    backoff.reset();
                    crate::health::up(adapter.as_ref());
                }
                Err(OpenError::Fatal(e)) => return Err(e),
                Err(OpenError::Transient(reason, after)) => {
                    let wait = after.unwrap_or_else(|| backoff.next_delay());
                    tracing::warn!(slack = %adapter.cfg.name, %reason, ?wait, "socket mode connect failed; retrying");
                    crate::health::down(
                        adapter.as_ref(),
                        &format!("socket mode connect failed: {reason}"),
                    );
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
        }
        let Some(ev) = ev_rx.recv().await else {
            return Err(adapter.fatal("socket mode manager lost its connections"));
        };
        match ev {
            ConnEvent::Replace(old) if conns.contains_key(&old) => {
                next_id += 1;
                match open(&adapter, next_id, ev_tx.clone(), work.clone()).await {
                    Ok(close) => {
                        conns.insert(next_id, close);
                        if let Some(close_old) = conns.remove(&old) {
                            let _ = close_old.send(());
                        }
                        tracing::info!(slack = %adapter.cfg.name, "moved to a new socket mode connection");
                    }
                    Err(OpenError::Fatal(e)) => return Err(e),
                    // The old connection keeps serving; when it drops we reconnect.
                    Err(OpenError::Transient(reason, _)) => {
                        tracing::warn!(slack = %adapter.cfg.name, %reason, "could not open the replacement connection");
                    }
                }
            }
            ConnEvent::Replace(_) => {}
            ConnEvent::Closed(id) => {
                conns.remove(&id);
                if conns.is_empty() {
                    crate::health::down(adapter.as_ref(), "socket mode connection lost");
                }
            }
            ConnEvent::Fatal(reason) => {
                for (_, close) in conns.drain() {
                    let _ = close.send(());
                }
                return Err(adapter.fatal(reason));
            }
        }
    }
}

/// Opens one connection and waits for its `hello`; the connection then runs in its own task.
async fn open(
    adapter: &Arc<SlackAdapter>,
    id: u64,
    events: mpsc::UnboundedSender<ConnEvent>,
    work: mpsc::Sender<Work>,
) -> Result<oneshot::Sender<()>, OpenError> {
    let url = match adapter.api.connections_open().await {
        Ok(u) => u,
        Err(e @ ApiError::Slack(_)) if e.is_auth() => {
            return Err(OpenError::Fatal(adapter.fatal(format_args!(
                "apps.connections.open failed with {e}; check app_token"
            ))));
        }
        Err(ApiError::RateLimited(d)) => {
            return Err(OpenError::Transient(
                "apps.connections.open: 429".into(),
                Some(d),
            ));
        }
        Err(e) => return Err(OpenError::Transient(e.to_string(), None)),
    };
    let connect = tokio_tungstenite::connect_async(url.as_str());
    let mut ws = match timeout(OPEN_TIMEOUT, connect).await {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(e)) => return Err(OpenError::Transient(format!("websocket: {e}"), None)),
        Err(_) => {
            return Err(OpenError::Transient(
                "websocket connect timed out".into(),
                None,
            ));
        }
    };
    let hello = async {
        while let Some(frame) = ws.next().await {
            match frame {
                Ok(Message::Text(t)) => {
                    let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                    match v.get("type").and_then(Value::as_str) {
                        Some("hello") => return Ok(()),
                        Some("disconnect") => {
                            let reason = v["reason"].as_str().unwrap_or("unknown").to_string();
                            return Err(reason);
                        }
                        _ => tracing::debug!("frame before hello ignored"),
                    }
                }
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        Err("closed before hello".to_string())
    };
    match timeout(OPEN_TIMEOUT, hello).await {
        Ok(Ok(())) => {}
        Ok(Err(reason)) if reason == "link_disabled" => {
            return Err(OpenError::Fatal(adapter.fatal(
                "Slack disabled Socket Mode for this app (link_disabled); not reconnecting",
            )));
        }
        Ok(Err(reason)) => return Err(OpenError::Transient(reason, None)),
        Err(_) => return Err(OpenError::Transient("no hello from Slack".into(), None)),
    }
    tracing::debug!(slack = %adapter.cfg.name, conn = id, "socket mode connected");
    adapter.connected.fire();
    let (close_tx, close_rx) = oneshot::channel();
    tokio::spawn(serve(adapter.clone(), id, ws, close_rx, events, work));
    Ok(close_tx)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn serve(
    adapter: Arc<SlackAdapter>,
    id: u64,
    mut ws: Ws,
    mut close: oneshot::Receiver<()>,
    events: mpsc::UnboundedSender<ConnEvent>,
    work: mpsc::Sender<Work>,
) {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut last_heard = Instant::now();
    // Acks of envelopes Flare is done with, written by this connection (the one that got them).
    let (acks, mut ack_rx) = mpsc::unbounded_channel::<String>();
    loop {
        tokio::select! {
            _ = &mut close => {
                let _ = ws.close(None).await;
                break;
            }
            Some(ack) = ack_rx.recv() => {
                if let Err(e) = ws.send(Message::Text(ack.into())).await {
                    tracing::info!(slack = %adapter.cfg.name, error = %e, "could not ack an envelope; Slack will deliver it again");
                    break;
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > DEAD_AFTER {
                    tracing::warn!(slack = %adapter.cfg.name, "socket mode connection silent; dropping it");
                    break;
                }
                if ws.send(Message::Ping(Vec::new().into())).await.is_err() {
                    break;
                }
            }
            frame = ws.next() => {
                last_heard = Instant::now();
                match frame {
                    Some(Ok(Message::Text(t))) => {
                        if let Some(ev) = handle_frame(&adapter, &mut ws, &t, &work, &acks).await {
                            let fatal = matches!(ev, ConnEvent::Fatal(_));
                            let _ = events.send(match ev {
                                ConnEvent::Replace(_) => ConnEvent::Replace(id),
                                other => other,
                            });
                            if fatal {
                                let _ = ws.close(None).await;
                                return;
                            }
                        }
                    }
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::info!(slack = %adapter.cfg.name, error = %e, "socket mode connection lost");
                        break;
                    }
                }
            }
        }
    }
    let _ = events.send(ConnEvent::Closed(id));
}

/// Hands an envelope's work on with a receipt that acks it once Flare is done with it (its
/// transaction committed), so an envelope Flare dies holding is never acked and Slack
/// delivers it again; an envelope with no work for Flare is acked at once. Returns a
/// connection event for `disconnect` frames.
async fn handle_frame(
    adapter: &SlackAdapter,
    ws: &mut Ws,
    text: &str,
    work: &mpsc::Sender<Work>,
    acks: &mpsc::UnboundedSender<String>,
) -> Option<ConnEvent> {
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(slack = %adapter.cfg.name, error = %e, "unreadable socket mode frame skipped");
            // Ack it anyway when its id is legible, so Slack does not redeliver it in vain.
            if let Some(id) = find_envelope_id(text) {
                let ack = json!({ "envelope_id": id }).to_string();
                let _ = ws.send(Message::Text(ack.into())).await;
            }
            return None;
        }
    };
    let kind = v.get("type").and_then(Value::as_str).unwrap_or_default();
    let Some(envelope_id) = v.get("envelope_id").and_then(Value::as_str) else {
        return match kind {
            "disconnect" => {
                let reason = v["reason"].as_str().unwrap_or("unknown");
                tracing::info!(slack = %adapter.cfg.name, reason, "slack asked us to reconnect");
                if reason == "link_disabled" {
                    Some(ConnEvent::Fatal(
                        "Slack disabled Socket Mode for this app (link_disabled); not reconnecting"
                            .into(),
                    ))
                } else {
                    Some(ConnEvent::Replace(0))
                }
            }
            "hello" => None,
            _ => {
                tracing::warn!(slack = %adapter.cfg.name, kind, "unknown socket mode frame skipped");
                None
            }
        };
    };
    let accepts_payload = v
        .get("accepts_response_payload")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let payload = v.get("payload").cloned().unwrap_or(Value::Null);
    let mut ack = json!({ "envelope_id": envelope_id });
    let mut slash = None;
    match kind {
        "slash_commands" => {
            let (reply, draft) = adapter.decoder.slash(&string_fields(&payload), Utc::now());
            if accepts_payload {
                ack["payload"] = json!({"response_type": "ephemeral", "text": reply});
            }
            slash = draft;
        }
        "events_api" => {}
        other => {
            tracing::info!(slack = %adapter.cfg.name, kind = other, "envelope type not handled; acked");
        }
    }
    let receipt = {
        let (acks, ack) = (acks.clone(), ack.to_string());
        // A connection gone by then drops the ack; Slack redelivers, the dispatcher acks that.
        Receipt::new(move || {
            let _ = acks.send(ack);
        })
    };
    let item = match (kind, slash) {
        ("events_api", _) => Work::Event {
            envelope_id: Some(envelope_id.to_string()),
            payload,
            receipt: Some(receipt),
        },
        // A slash command's ephemeral reply travels in the ack, so it too waits for the commit.
        (_, Some(draft)) => Work::Slash {
            envelope_id: Some(envelope_id.to_string()),
            draft,
            receipt: Some(receipt),
        },
        _ => {
            if let Err(e) = ws.send(Message::Text(ack.to_string().into())).await {
                tracing::warn!(slack = %adapter.cfg.name, error = %e, "could not ack envelope");
            }
            return None;
        }
    };
    if work.send(item).await.is_err() {
        tracing::warn!(slack = %adapter.cfg.name, "dispatcher gone; envelope not acked");
    }
    None
}

/// The envelope id of a frame that is not valid JSON, if it can be read safely.
fn find_envelope_id(text: &str) -> Option<&str> {
    let key = "\"envelope_id\"";
    let rest = &text[text.find(key)? + key.len()..];
    let rest = rest
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    let id = &rest[..rest.find('"')?];
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then_some(id)
}

#[cfg(test)]
mod tests {
    use super::find_envelope_id;

    #[test]
    fn envelope_id_of_broken_frames() {
        assert_eq!(
            find_envelope_id(r#"{"envelope_id": "57d6a792-4d35-4d0b-b6aa", "payload": {"#),
            Some("57d6a792-4d35-4d0b-b6aa")
        );
        assert_eq!(find_envelope_id(r#"{"envelope_id":"a\"b"#), None);
        assert_eq!(find_envelope_id("{not json"), None);
    }
}
