//! Decoding Slack events and slash commands into drafts of [`Inbound`] events, and
//! de-duplicating deliveries.

use std::collections::{HashMap, HashSet, VecDeque};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::api::Identity;
use super::text::{escape, parse_ts};
use crate::chat::{Author, Inbound, InboundKind, PlatformKind};

/// An inbound event before the author's display name is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub event: InboundKind,
    pub channel: String,
    pub thread: Option<String>,
    pub user: String,
    /// A name the payload already gave (slash commands, bot messages), used if `users.info`
    /// has none.
    pub fallback_name: Option<String>,
    pub text: String,
    pub message_id: String,
    pub sent_at: DateTime<Utc>,
}

impl Draft {
    pub fn into_inbound(self, platform: &str, display: String) -> Inbound {
        Inbound {
            platform: platform.to_string(),
            kind: PlatformKind::Slack,
            event: self.event,
            channel: self.channel,
            thread: self.thread,
            incident_hint: None,
            author: Author {
                id: self.user,
                display,
            },
            text: self.text,
            message_id: self.message_id,
            sent_at: self.sent_at,
            receipt: None,
        }
    }
}

/// Remembers the last `cap` ids seen, to drop repeated deliveries in bounded memory.
pub struct Dedupe {
    seen: HashSet<String>,
    order: VecDeque<String>,
    cap: usize,
}

impl Dedupe {
    pub fn new(cap: usize) -> Dedupe {
        Dedupe {
            seen: HashSet::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
        }
    }

    /// Whether `id` was seen (within the memory window).
    pub fn contains(&self, id: &str) -> bool {
        self.seen.contains(id)
    }

    /// True the first time `id` is seen (within the memory window).
    pub fn first_time(&mut self, id: &str) -> bool {
        if self.seen.contains(id) {
            return false;
        }
        if self.order.len() >= self.cap
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        self.seen.insert(id.to_string());
        self.order.push_back(id.to_string());
        true
    }
}

/// Knows which channels matter and who "we" are.
pub struct Decoder {
    pub channels: HashSet<String>,
    pub slash_command: String,
}

fn s<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// The thread root of a message, unless the message is itself the root.
fn thread_of(msg: &Value) -> Option<String> {
    let thread = s(msg, "thread_ts")?;
    (Some(thread) != s(msg, "ts")).then(|| thread.to_string())
}

/// A message's text as plain text, with its shared files (images included) as links.
fn message_text(msg: &Value) -> String {
    let mut text = super::text::plain(s(msg, "text").unwrap_or_default());
    for f in msg
        .get("files")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let name = s(f, "name").or(s(f, "title")).unwrap_or("file");
        if let Some(link) = s(f, "permalink").or(s(f, "url_private")) {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&format!("[file {name}] {link}"));
        }
    }
    text
}

fn is_own(msg: &Value, me: &Identity) -> bool {
    s(msg, "user") == Some(me.user_id.as_str())
        || (me.bot_id.is_some() && s(msg, "bot_id") == me.bot_id.as_deref())
}

impl Decoder {
    /// Decodes the inner `event` of an `event_callback`. `None` for events Flare ignores.
    pub fn event(&self, ev: &Value, me: &Identity) -> Option<Draft> {
        match s(ev, "type")? {
            "message" => self.message(ev, me),
            "reaction_added" => self.reaction(ev, me),
            _ => None,
        }
    }

    fn message(&self, ev: &Value, me: &Identity) -> Option<Draft> {
        let channel = s(ev, "channel")?;
        if !self.channels.contains(channel) {
            return None;
        }
        let event_ts = s(ev, "ts")?;
        match s(ev, "subtype") {
            None
            | Some("thread_broadcast")
            | Some("file_share")
            | Some("me_message")
            | Some("bot_message") => {
                if is_own(ev, me) {
                    return None;
                }
                let (user, fallback) = match s(ev, "user") {
                    Some(u) => (u.to_string(), None),
                    None => (
                        s(ev, "bot_id")?.to_string(),
                        s(ev, "username").map(str::to_string),
                    ),
                };
                Some(Draft {
                    event: InboundKind::Message,
                    channel: channel.to_string(),
                    thread: thread_of(ev),
                    user,
                    fallback_name: fallback,
                    text: message_text(ev),
                    message_id: event_ts.to_string(),
                    sent_at: parse_ts(event_ts)?,
                })
            }
            Some("message_changed") => {
                let msg = ev.get("message")?;
                if is_own(msg, me) {
                    return None;
                }
                // Slack also reports thread bookkeeping (reply counts) as a change; only a
                // real edit carries `edited`.
                let edited = msg.get("edited")?;
                let when = s(edited, "ts").unwrap_or(event_ts);
                Some(Draft {
                    event: InboundKind::Edit,
                    channel: channel.to_string(),
                    thread: thread_of(msg),
                    user: s(msg, "user").or(s(msg, "bot_id"))?.to_string(),
                    fallback_name: None,
                    text: message_text(msg),
                    message_id: s(msg, "ts")?.to_string(),
                    sent_at: parse_ts(when).or_else(|| parse_ts(event_ts))?,
                })
            }
            Some("message_deleted") => {
                let prev = ev.get("previous_message");
                if prev.is_some_and(|p| is_own(p, me)) {
                    return None;
                }
                let user = prev
                    .and_then(|p| s(p, "user").or(s(p, "bot_id")))
                    .unwrap_or("unknown");
                Some(Draft {
                    event: InboundKind::Delete,
                    channel: channel.to_string(),
                    thread: prev.and_then(thread_of),
                    user: user.to_string(),
                    fallback_name: None,
                    text: String::new(),
                    message_id: s(ev, "deleted_ts")?.to_string(),
                    sent_at: parse_ts(event_ts)?,
                })
            }
            // message_replied (hidden thread bookkeeping), joins, topics, ...
            _ => None,
        }
    }

    fn reaction(&self, ev: &Value, me: &Identity) -> Option<Draft> {
        let item = ev.get("item")?;
        if s(item, "type") != Some("message") {
            return None;
        }
        let channel = s(item, "channel")?;
        let user = s(ev, "user")?;
        if !self.channels.contains(channel) || user == me.user_id {
            return None;
        }
        Some(Draft {
            event: InboundKind::Reaction {
                name: s(ev, "reaction")?.to_string(),
            },
            channel: channel.to_string(),
            thread: None,
            user: user.to_string(),
            fallback_name: None,
            text: String::new(),
            message_id: s(item, "ts")?.to_string(),
            sent_at: s(ev, "event_ts")
                .and_then(parse_ts)
                .unwrap_or_else(Utc::now),
        })
    }

    /// A slash command (form fields, or the Socket Mode payload's string fields): the
    /// ephemeral acknowledgement text, and the command as an inbound `!incident ...` message.
    pub fn slash(
        &self,
        fields: &HashMap<String, String>,
        received_at: DateTime<Utc>,
    ) -> (String, Option<Draft>) {
        let get = |k: &str| fields.get(k).map(String::as_str).unwrap_or_default();
        let command = get("command");
        if command != self.slash_command {
            return (
                format!("Flare only knows {}.", escape(&self.slash_command)),
                None,
            );
        }
        let (channel, user, trigger) = (get("channel_id"), get("user_id"), get("trigger_id"));
        if channel.is_empty() || user.is_empty() || trigger.is_empty() {
            return (
                "That command arrived incomplete; please try again.".into(),
                None,
            );
        }
        let args = get("text").trim();
        let ack = if args.is_empty() {
            "Working on it.".to_string()
        } else {
            format!("Working on it: `{}`", escape(&args.replace('`', "'")))
        };
        let text = if args.is_empty() {
            "!incident".to_string()
        } else {
            format!("!incident {args}")
        };
        let draft = Draft {
            event: InboundKind::Message,
            channel: channel.to_string(),
            thread: None,
            user: user.to_string(),
            fallback_name: fields.get("user_name").cloned(),
            text,
            // A slash command is not a message and has no ts: the trigger id is unique per
            // invocation, and the receive time is the best time Slack gives us.
            message_id: trigger.to_string(),
            sent_at: received_at,
        };
        (ack, Some(draft))
    }
}

/// The string fields of a JSON object (a Socket Mode slash-command payload).
pub fn string_fields(v: &Value) -> HashMap<String, String> {
    v.as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dec() -> (Decoder, Identity) {
        (
            Decoder {
                channels: ["C1".to_string()].into(),
                slash_command: "/incident".into(),
            },
            Identity {
                user_id: "UBOT".into(),
                bot_id: Some("BBOT".into()),
                team: None,
            },
        )
    }

    #[test]
    fn messages_threads_and_own() {
        let (d, me) = dec();
        let ev = json!({"type":"message","channel":"C1","user":"U1","text":"hi",
            "ts":"1700000001.000200","thread_ts":"1700000000.000100"});
        let draft = d.event(&ev, &me).unwrap();
        assert_eq!(draft.thread.as_deref(), Some("1700000000.000100"));
        assert_eq!(draft.message_id, "1700000001.000200");
        assert_eq!(draft.sent_at.timestamp_subsec_micros(), 200);
        let own = json!({"type":"message","channel":"C1","bot_id":"BBOT","text":"x","ts":"1.1"});
        assert!(d.event(&own, &me).is_none());
        let elsewhere = json!({"type":"message","channel":"C9","user":"U1","text":"x","ts":"1.1"});
        assert!(d.event(&elsewhere, &me).is_none());
        let replied = json!({"type":"message","subtype":"message_replied","hidden":true,
            "channel":"C1","ts":"1.2","message":{"user":"U1","ts":"1.1","text":"x"}});
        assert!(d.event(&replied, &me).is_none());
    }

    #[test]
    fn text_is_plain_and_files_become_links() {
        let (d, me) = dec();
        let ev = json!({"type":"message","subtype":"file_share","channel":"C1","user":"U1",
            "text":"graph &lt;here&gt; <@U2>","ts":"1700000001.000200",
            "files":[{"name":"cpu.png","permalink":"https://t.slack.com/files/U1/F1/cpu.png"}]});
        let draft = d.event(&ev, &me).unwrap();
        assert_eq!(
            draft.text,
            "graph <here> @U2\n[file cpu.png] https://t.slack.com/files/U1/F1/cpu.png"
        );
    }

    #[test]
    fn edits_deletes_reactions() {
        let (d, me) = dec();
        let ev = json!({"type":"message","subtype":"message_changed","hidden":true,"channel":"C1",
            "ts":"1700000005.000001","event_ts":"1700000005.000001",
            "message":{"type":"message","user":"U1","text":"new","ts":"1700000000.000100",
                "edited":{"user":"U1","ts":"1700000005.000000"}},
            "previous_message":{"type":"message","user":"U1","text":"old","ts":"1700000000.000100"}});
        let e = d.event(&ev, &me).unwrap();
        assert_eq!(
            (e.event, e.message_id.as_str(), e.text.as_str()),
            (InboundKind::Edit, "1700000000.000100", "new")
        );
        let ev = json!({"type":"message","subtype":"message_deleted","hidden":true,"channel":"C1",
            "ts":"1700000006.000001","deleted_ts":"1700000000.000100",
            "previous_message":{"type":"message","user":"U1","text":"old","ts":"1700000000.000100"}});
        let e = d.event(&ev, &me).unwrap();
        assert_eq!(
            (e.event, e.message_id.as_str()),
            (InboundKind::Delete, "1700000000.000100")
        );
        let ev = json!({"type":"reaction_added","user":"U1","reaction":"eyes",
            "item":{"type":"message","channel":"C1","ts":"1700000000.000100"},
            "event_ts":"1700000007.000001"});
        let e = d.event(&ev, &me).unwrap();
        assert_eq!(
            e.event,
            InboundKind::Reaction {
                name: "eyes".into()
            }
        );
        assert_eq!(e.message_id, "1700000000.000100");
    }

    #[test]
    fn dedupe_is_bounded() {
        let mut dd = Dedupe::new(2);
        assert!(dd.first_time("a"));
        assert!(!dd.first_time("a"));
        assert!(dd.first_time("b"));
        assert!(dd.first_time("c"));
        assert!(dd.first_time("a"), "forgotten after cap");
        assert!(dd.seen.len() <= 2);
    }
}
