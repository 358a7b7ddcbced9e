//! The reader: reads the server's lines, registers, keeps the link alive, hands lines on.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use super::End;
use super::handle::{handle, join_all};
use crate::chat::InboundSink;
use crate::chat::irc::message::Message;
use crate::chat::irc::register::{Registration, Step};
use crate::chat::irc::{IrcAdapter, Outgoing};

/// Longest line we read: 8191 bytes of tags plus a 512-byte message, with slack.
const MAX_READ: usize = 8191 + 1024;
/// Longest message part (without tags) we accept; beyond it the line is out of spec.
const MAX_BODY: usize = 512;
const REGISTER_TIMEOUT: Duration = Duration::from_secs(60);

/// Reads one line, capped at [`MAX_READ`]; a longer line is consumed and reported as `Ok(None)`.
/// `Err` on EOF or I/O error.
async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> Result<Option<()>, String> {
    buf.clear();
    let mut too_long = false;
    loop {
        let chunk = r
            .fill_buf()
            .await
            .map_err(|e| format!("read failed: {e}"))?;
        if chunk.is_empty() {
            return Err("server closed the connection".into());
        }
        let (take, done) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if !too_long {
            if buf.len() + take > MAX_READ {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&chunk[..take]);
            }
        }
        r.consume(take);
        if done {
            return Ok((!too_long).then_some(()));
        }
    }
}

pub(super) async fn drive<R: AsyncBufRead + Unpin>(
    adapter: &Arc<IrcAdapter>,
    sink: &InboundSink,
    rd: &mut R,
    tx: &mpsc::UnboundedSender<Outgoing>,
) -> End {
    let name = &adapter.cfg.name;
    let send = |line: String| {
        let _ = tx.send(Outgoing { line, done: None });
    };
    let mut reg = Registration::new(
        adapter.cfg.nicks(),
        adapter.cfg.username.clone(),
        adapter.cfg.realname.clone(),
        adapter.resolved.password.clone(),
        adapter.resolved.sasl.clone(),
    );
    for l in reg.start() {
        send(l);
    }
    let mut registered = false;
    let register_by = Instant::now() + REGISTER_TIMEOUT;
    let ping_interval = adapter
        .resolved
        .ping_interval
        .max(Duration::from_millis(100));
    let ping_timeout = adapter
        .resolved
        .ping_timeout
        .max(Duration::from_millis(100));
    let mut last_rx = Instant::now();
    let mut ping_sent: Option<Instant> = None;
    let mut buf = Vec::with_capacity(1024);
    loop {
        let deadline = if !registered {
            register_by
        } else if let Some(p) = ping_sent {
            p + ping_timeout
        } else {
            last_rx + ping_interval
        };
        let read = tokio::select! {
            r = read_line(rd, &mut buf) => r,
            _ = sleep_until(deadline) => {
                if !registered {
                    return End::Lost { registered, why: "registration timed out".into() };
                }
                if ping_sent.is_some() {
                    return End::Lost { registered, why: format!("no reply to PING within {ping_timeout:?}") };
                }
                send(format!("PING :flare-{}", Utc::now().timestamp_millis()));
                ping_sent = Some(Instant::now());
                continue;
            }
        };
        match read {
            Err(why) => return End::Lost { registered, why },
            Ok(None) => {
                tracing::warn!(network = %name, max = MAX_READ, "skipped an over-long line from the server");
                continue;
            }
            Ok(Some(())) => {}
        }
        let received = Utc::now();
        last_rx = Instant::now();
        ping_sent = None;
        let line = String::from_utf8_lossy(&buf);
        let msg = match Message::parse(&line) {
            Ok(m) => m,
            Err(e) => {
                if !matches!(e, crate::chat::irc::message::ParseError::Empty) {
                    tracing::warn!(network = %name, error = %e, "skipped a malformed line from the server");
                }
                continue;
            }
        };
        let body_len = match line.strip_prefix('@') {
            Some(r) => r.split_once(' ').map_or(0, |(_, b)| b.trim_end().len()),
            None => line.trim_end().len(),
        };
        if body_len > MAX_BODY {
            tracing::warn!(network = %name, len = body_len, "skipped a line longer than 512 bytes from the server");
            continue;
        }
        match msg.command.as_str() {
            "PING" => {
                let token = msg.params.first().map(String::as_str).unwrap_or("");
                send(Message::new("PONG", &[token]).to_string());
                continue;
            }
            "PONG" => continue,
            "ERROR" if registered => {
                return End::Lost {
                    registered,
                    why: format!(
                        "server said ERROR: {}",
                        msg.params.last().cloned().unwrap_or_default()
                    ),
                };
            }
            _ => {}
        }
        if !registered {
            for step in reg.on_message(&msg) {
                match step {
                    Step::Send(l) => send(l),
                    Step::Fatal(why) => return End::Fatal(why),
                    Step::Welcome { nick, mask, caps } => {
                        registered = true;
                        tracing::info!(network = %name, %nick, caps = ?caps, "registered on IRC");
                        crate::health::up(adapter.as_ref());
                        let mut st = adapter.state();
                        st.nick = nick;
                        st.mask = mask;
                        st.caps = caps;
                        st.link = Some(tx.clone());
                        drop(st);
                        join_all(adapter, &send);
                        adapter.connected.fire();
                    }
                }
            }
            if !registered && msg.command == "ERROR" {
                return End::Lost {
                    registered,
                    why: format!(
                        "server said ERROR: {}",
                        msg.params.last().cloned().unwrap_or_default()
                    ),
                };
            }
            continue;
        }
        if let Some(inbound) = handle(adapter, &msg, received, &send)
            && sink.send(inbound).await.is_err()
        {
            return End::Shutdown;
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::BufReader;

    use super::*;

    #[tokio::test]
    async fn over_long_lines_are_skipped_whole() {
        let data = format!("{}\r\nPING :x\r\n", "a".repeat(MAX_READ + 10));
        let mut r = BufReader::with_capacity(64, data.as_bytes());
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut r, &mut buf).await, Ok(None));
        assert_eq!(read_line(&mut r, &mut buf).await, Ok(Some(())));
        assert_eq!(buf, b"PING :x\r\n");
        assert!(read_line(&mut r, &mut buf).await.is_err());
    }
}
