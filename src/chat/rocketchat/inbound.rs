//! Inbound: what a received or backfilled message (or deletion) means, and pushing it to the sink.

use chrono::{DateTime, Utc};

use super::RocketChatAdapter;
use super::decode::{Novelty, RcMessage, command_text};
use crate::chat::{Author, Inbound, InboundKind, InboundSink, PlatformKind};

impl RocketChatAdapter {
    /// A deleted message becomes a Delete event, once, if it was emitted before.
    pub(super) async fn emit_delete(
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
            receipt: None,
        };
        sink.send(inbound).await.is_ok()
    }

    /// Decides what a (re)appearing message means and pushes it; false when the sink closed.
    pub(super) async fn emit(&self, m: RcMessage, sink: &InboundSink) -> bool {
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
            receipt: None,
        })
    }
}
