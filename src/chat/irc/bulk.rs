//! Long informational answers (help, show, ...): sent to the person who asked, by NOTICE,
//! one line at a time behind everything else, so they never hold up what matters.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use super::config::{is_valid_channel, is_valid_nick};
use super::flood::TokenBucket;
use super::{IrcAdapter, Outgoing};
use crate::chat::{Outbound, SendError, Sent, Style};

/// A bulk answer longer than this many lines goes to its requester by NOTICE; the channel
/// gets one line pointing to it.
pub const CHANNEL_LINES: usize = 3;

/// The NOTICE lines waiting to go out, each taking the flood bucket on its own.
#[derive(Default)]
pub(crate) struct BulkQueue {
    lines: std::sync::Mutex<VecDeque<String>>,
    ready: tokio::sync::Notify,
}

impl BulkQueue {
    fn push(&self, lines: Vec<String>) {
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(lines);
        self.ready.notify_one();
    }

    fn pop(&self) -> Option<String> {
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
    }

    fn put_back(&self, line: String) {
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_front(line);
    }
}

impl IrcAdapter {
    /// Sends a bulk answer too long for the channel to its requester instead, if there is
    /// one to send it to; `None` when it goes to the channel as usual.
    pub(super) async fn send_bulk_privately(
        &self,
        bucket: &mut TokenBucket,
        msg: &Outbound,
    ) -> Option<Result<Sent, SendError>> {
        let nick = msg.requester.as_deref()?;
        if !msg.bulk || !is_valid_channel(&msg.channel) || !is_valid_nick(nick) {
            return None;
        }
        if self.render(msg, &msg.channel, msg.incident).len() <= CHANNEL_LINES {
            return None;
        }
        if let Err(e) = self.link() {
            return Some(Err(e));
        }
        let private = Outbound {
            thread: None,
            mentions: Vec::new(),
            ..msg.clone()
        };
        let lines = self.render_as(&private, nick, msg.incident, "NOTICE");
        let n = lines.len();
        let pointer = Outbound {
            text: format!("sent you the answer by notice ({n} lines)"),
            mentions: vec![nick.to_string()],
            bulk: false,
            style: Style::Reply,
            ..msg.clone()
        };
        self.bulk.push(lines);
        Some(self.send_locked(bucket, &pointer).await)
    }
}

/// Writes the queued NOTICE lines one at a time, each through the flood bucket taken on its
/// own: a message of normal priority waiting for the bucket goes after at most one of them.
pub(super) async fn drain(adapter: Arc<IrcAdapter>) {
    loop {
        let Some(line) = adapter.bulk.pop() else {
            adapter.bulk.ready.notified().await;
            continue;
        };
        let mut bucket = adapter.sender.lock().await;
        let Ok(link) = adapter.link() else {
            // Kept for the next connection.
            drop(bucket);
            adapter.bulk.put_back(line);
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        bucket.take().await;
        let _ = link.send(Outgoing { line, done: None });
    }
}
