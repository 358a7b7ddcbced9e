//! Decoding Rocket.Chat messages from DDP (EJSON dates) and REST (ISO-8601 dates), and the
//! memory of what was already emitted, so re-emissions and backfills never duplicate.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

/// The fields of a Rocket.Chat message the adapter needs.
#[derive(Debug, Clone, PartialEq)]
pub struct RcMessage {
    /// Uploaded files and images (`attachments[].title_link`), as (title, link); links may be
    /// relative to the server.
    pub files: Vec<(String, String)>,
    pub id: String,
    pub rid: String,
    pub msg: String,
    pub ts: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
    pub edited_at: Option<DateTime<Utc>>,
    pub user_id: String,
    pub username: String,
    pub name: Option<String>,
    pub tmid: Option<String>,
    /// System message type (`uj`, `ul`, `rm`, ...); such messages are not chat.
    pub t: Option<String>,
}

impl RcMessage {
    /// The newest time this message is known to have changed at.
    pub fn changed_at(&self) -> DateTime<Utc> {
        self.updated_at
            .into_iter()
            .chain(self.edited_at)
            .fold(self.ts, |a, b| a.max(b))
    }
}

/// A date as Rocket.Chat sends it: EJSON `{"$date": ms}` over DDP, an ISO-8601 string over REST
/// (and, in a few responses, epoch milliseconds as a number or string).
pub fn parse_date(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::Object(o) => o.get("$date").and_then(parse_date),
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .ok()
            .or_else(|| {
                s.parse::<i64>()
                    .ok()
                    .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
            }),
        _ => None,
    }
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Decodes one message object; `None` (with the reason) when a required field is missing.
pub fn decode_message(v: &Value) -> Result<RcMessage, String> {
    let id = str_field(v, "_id").ok_or("message without _id")?;
    let rid = str_field(v, "rid").ok_or("message without rid")?;
    let ts = v
        .get("ts")
        .and_then(parse_date)
        .ok_or("message without a valid ts")?;
    let u = v.get("u").ok_or("message without u")?;
    let user_id = str_field(u, "_id").ok_or("message without u._id")?;
    let username = str_field(u, "username").unwrap_or_else(|| user_id.clone());
    Ok(RcMessage {
        id,
        rid,
        msg: v
            .get("msg")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        ts,
        updated_at: v.get("_updatedAt").and_then(parse_date),
        edited_at: v.get("editedAt").and_then(parse_date),
        user_id,
        username,
        name: str_field(u, "name"),
        tmid: str_field(v, "tmid"),
        t: str_field(v, "t"),
        files: v
            .get("attachments")
            .and_then(Value::as_array)
            .map(|atts| {
                atts.iter()
                    .filter_map(|a| {
                        let link =
                            str_field(a, "title_link").or_else(|| str_field(a, "image_url"))?;
                        Some((str_field(a, "title").unwrap_or_else(|| "file".into()), link))
                    })
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// What to do with a message that (re)appeared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Novelty {
    /// Never seen: a new message.
    New,
    /// Seen before, and `editedAt` changed: an edit.
    Edited,
    /// Seen before with the same `editedAt` (thread counter, reaction, backfill overlap).
    Repeat,
}

/// The `_id -> editedAt` of recent messages, bounded so a long-running bot does not grow.
#[derive(Debug)]
pub struct SeenMessages {
    edited: HashMap<String, Option<i64>>,
    order: VecDeque<String>,
    capacity: usize,
}

impl SeenMessages {
    pub fn new(capacity: usize) -> Self {
        SeenMessages {
            edited: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(16),
        }
    }

    pub fn contains(&self, id: &str) -> bool {
        self.edited.contains_key(id)
    }

    /// Records the message and says whether it is new, an edit or a repeat.
    pub fn observe(&mut self, id: &str, edited_at: Option<DateTime<Utc>>) -> Novelty {
        let edited = edited_at.map(|d| d.timestamp_millis());
        match self.edited.get_mut(id) {
            Some(prev) if *prev == edited => Novelty::Repeat,
            Some(prev) => {
                *prev = edited;
                Novelty::Edited
            }
            None => {
                self.edited.insert(id.to_string(), edited);
                self.order.push_back(id.to_string());
                while self.order.len() > self.capacity {
                    if let Some(old) = self.order.pop_front() {
                        self.edited.remove(&old);
                    }
                }
                Novelty::New
            }
        }
    }

    pub fn forget(&mut self, id: &str) {
        self.edited.remove(id);
    }
}

/// Turns `@botname open db down` into `!incident open db down`; other text is unchanged.
pub fn command_text(text: &str, bot_username: Option<&str>) -> String {
    let Some(bot) = bot_username.filter(|b| !b.is_empty()) else {
        return text.to_string();
    };
    let trimmed = text.trim_start();
    let Some(rest) = trimmed.strip_prefix('@') else {
        return text.to_string();
    };
    let Some(after) = rest.strip_prefix(bot) else {
        return text.to_string();
    };
    let after = after.strip_prefix(':').unwrap_or(after);
    if !after.starts_with(char::is_whitespace) {
        return text.to_string();
    }
    let command = after.trim();
    if command.is_empty() {
        return text.to_string();
    }
    if command.starts_with('!') {
        command.to_string()
    } else {
        format!("!incident {command}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn uploads_are_kept_as_links() {
        let m = decode_message(&json!({
            "_id": "m1", "rid": "R1", "msg": "", "ts": {"$date": 1_700_000_000_000i64},
            "u": {"_id": "U1", "username": "alice"},
            "attachments": [{"title": "cpu.png", "title_link": "/file-upload/F1/cpu.png",
                              "image_url": "/file-upload/F1/cpu.png"}, {"text": "quote"}]
        }))
        .expect("decodes");
        assert_eq!(
            m.files,
            vec![("cpu.png".to_string(), "/file-upload/F1/cpu.png".to_string())]
        );
    }

    #[test]
    fn dates_in_both_encodings() {
        let a = parse_date(&json!({"$date": 1_700_000_000_123_i64})).expect("ejson");
        let b = parse_date(&json!("2023-11-14T22:13:20.123Z")).expect("iso");
        assert_eq!(a, b);
        assert_eq!(a.timestamp_millis(), 1_700_000_000_123);
        assert!(parse_date(&json!({"$date": "nope"})).is_none());
        assert!(parse_date(&json!(null)).is_none());
    }

    #[test]
    fn decode_skips_garbage() {
        assert!(decode_message(&json!({"_id": "a"})).is_err());
        assert!(decode_message(&json!([1, 2])).is_err());
        let m = decode_message(&json!({
            "_id": "m1", "rid": "r1", "msg": "hi", "ts": {"$date": 5},
            "u": {"_id": "u1", "username": "alice"}, "tmid": "root"
        }))
        .expect("valid");
        assert_eq!(m.tmid.as_deref(), Some("root"));
        assert_eq!(m.ts.timestamp_millis(), 5);
    }

    #[test]
    fn edits_versus_repeats() {
        let mut seen = SeenMessages::new(16);
        assert_eq!(seen.observe("a", None), Novelty::New);
        assert_eq!(seen.observe("a", None), Novelty::Repeat);
        let t = parse_date(&json!(10));
        assert_eq!(seen.observe("a", t), Novelty::Edited);
        assert_eq!(seen.observe("a", t), Novelty::Repeat);
        for i in 0..40 {
            seen.observe(&format!("x{i}"), None);
        }
        assert!(!seen.contains("a"));
    }

    #[test]
    fn bot_mention_becomes_a_command() {
        let bot = Some("flare");
        assert_eq!(
            command_text("@flare open db down", bot),
            "!incident open db down"
        );
        assert_eq!(command_text("@flare: ack", bot), "!incident ack");
        assert_eq!(command_text("@flare !inc status", bot), "!inc status");
        assert_eq!(command_text("@flarebot open x", bot), "@flarebot open x");
        assert_eq!(command_text("!inc open x", bot), "!inc open x");
        assert_eq!(command_text("hello @flare open", bot), "hello @flare open");
    }
}
