//! Outbound: sending, editing and deleting messages, their ids, text and send errors.

use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::RocketChatAdapter;
use super::rest::RestError;
use super::text;
use crate::chat::text::neutralise_controls;
use crate::chat::{Outbound, SendError, Sent, Style};

/// The alphabet of Meteor's `Random.id()`, which Rocket.Chat message ids use.
const ID_ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz";
/// A deterministic Rocket.Chat message id for one delivery (and part of a split message), so a
/// retried send reuses the id and the server refuses the duplicate.
pub fn message_id_for(salt: &str, delivery_id: i64, part: usize) -> String {
    let digest = Sha256::digest(format!("flare:{salt}:{delivery_id}:{part}").as_bytes());
    digest
        .iter()
        .take(17)
        .map(|b| ID_ALPHABET[*b as usize % ID_ALPHABET.len()] as char)
        .collect()
}

fn is_duplicate_id(e: &RestError) -> bool {
    match e {
        RestError::Rejected { error, .. } => {
            let lower = error.to_lowercase();
            lower.contains("e11000")
                || lower.contains("duplicate")
                || lower.contains("already exists")
                || e.error_type().as_deref() == Some("error-message-already-exists")
        }
        _ => false,
    }
}
impl RocketChatAdapter {
    /// `ChatAdapter::send`: a deletion, an edit, or a new message in one or more parts.
    pub(super) async fn send_outbound(&self, msg: &Outbound) -> Result<Sent, SendError> {
        let rid = self.target_room(&msg.channel).await?;
        if let Some(target) = &msg.delete_of {
            return match self
                .rest
                .post("chat.delete", &json!({"roomId": rid, "msgId": target}))
                .await
            {
                Ok(_) => Ok(Sent {
                    remote_id: target.clone(),
                    thread: None,
                }),
                Err(e) => Err(self.send_error(e, &msg.channel)),
            };
        }
        let body = self.outbound_text(msg);
        let parts = text::split_text(&body, self.cfg.max_message_chars);
        if let Some(target) = &msg.edit_of {
            let first = parts.first().cloned().unwrap_or_default();
            return match self
                .rest
                .post(
                    "chat.update",
                    &json!({"roomId": rid, "msgId": target, "text": first}),
                )
                .await
            {
                Ok(_) => Ok(Sent {
                    remote_id: target.clone(),
                    thread: None,
                }),
                Err(e) => Err(self.send_error(e, &msg.channel)),
            };
        }
        let mut first_id = None;
        for (i, part) in parts.iter().enumerate() {
            let id = message_id_for(&self.salt, msg.delivery_id, i);
            if let Ok(mut s) = self.sent_ids.lock() {
                s.observe(&id, None);
            }
            let mut message = json!({"_id": id, "rid": rid, "msg": part});
            if let Some(t) = &msg.thread {
                message["tmid"] = Value::String(t.clone());
                if msg.style == Style::StatusUpdate && self.cfg.show_status_updates_in_channel {
                    message["tshow"] = Value::Bool(true);
                }
            }
            if msg.style == Style::Mirror
                && self.cfg.use_alias
                && let Some(author) = msg.author.as_deref().filter(|a| !a.is_empty())
            {
                let alias: String = neutralise_controls(author)
                    .replace('\n', " ")
                    .chars()
                    .take(80)
                    .collect();
                message["alias"] = Value::String(alias);
            }
            let sent_id = match self
                .rest
                .post("chat.sendMessage", &json!({ "message": message }))
                .await
            {
                Ok(v) => v["message"]["_id"].as_str().unwrap_or(&id).to_string(),
                // The id is ours and deterministic: it exists because an earlier attempt
                // of this very delivery got through.
                Err(e) if is_duplicate_id(&e) => id.clone(),
                // Whatever the server's wording for a taken id, our message being there
                // already means an earlier attempt got through.
                Err(e @ RestError::Rejected { .. }) if self.already_posted(&id).await => {
                    tracing::debug!(platform = %self.cfg.name, "send refused ({e}) but already posted");
                    id.clone()
                }
                Err(e) => return Err(self.send_error(e, &msg.channel)),
            };
            if sent_id != id
                && let Ok(mut s) = self.sent_ids.lock()
            {
                s.observe(&sent_id, None);
            }
            first_id.get_or_insert(sent_id);
        }
        let remote_id = first_id.unwrap_or_default();
        let thread = (msg.style == Style::ThreadRoot).then(|| remote_id.clone());
        Ok(Sent { remote_id, thread })
    }

    pub(super) fn send_error(&self, e: RestError, channel: &str) -> SendError {
        let name = &self.cfg.name;
        match e {
            RestError::RateLimited { after } => SendError::Retry {
                after: Some(after),
                reason: format!("rocketchat `{name}` rate limit"),
            },
            RestError::Network(m) => SendError::Retry {
                after: None,
                reason: format!("rocketchat `{name}`: {m}"),
            },
            RestError::Server { status, error } => SendError::Retry {
                after: None,
                reason: format!("rocketchat `{name}`: server error {status}: {error}"),
            },
            RestError::Malformed(m) => SendError::Retry {
                after: None,
                reason: format!("rocketchat `{name}`: {m}"),
            },
            RestError::Unauthorized(m) => SendError::Retry {
                after: Some(Duration::from_secs(60)),
                reason: format!("rocketchat `{name}`: not authorised ({m}); check the token"),
            },
            RestError::TotpRequired => SendError::Permanent(format!("rocketchat `{name}`: {e}")),
            RestError::Rejected { .. } => {
                SendError::Permanent(format!("rocketchat `{name}`: room `{channel}`: {e}"))
            }
        }
    }

    /// Whether the message with this id exists and is the bot's own.
    async fn already_posted(&self, id: &str) -> bool {
        let Some(bot) = self.bot().or(self.identify().await.ok()) else {
            return false;
        };
        match self
            .rest
            .get("chat.getMessage", &[("msgId", id.to_string())])
            .await
        {
            Ok(v) => v["message"]["u"]["_id"].as_str() == Some(bot.user_id.as_str()),
            Err(_) => false,
        }
    }

    fn outbound_text(&self, msg: &Outbound) -> String {
        let mut text = text::neutralise_mentions(&neutralise_controls(&msg.text));
        if msg.style == Style::Mirror
            && !self.cfg.use_alias
            && let Some(author) = msg.author.as_deref().filter(|a| !a.is_empty())
        {
            text = format!(
                "{} {text}",
                text::neutralise_mentions(&neutralise_controls(author))
            );
        }
        let mentions = text::render_mentions(&msg.mentions);
        if !mentions.is_empty() {
            text = format!("{mentions} {text}");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_stable_and_salted() {
        let a = message_id_for("rc", 42, 0);
        assert_eq!(a, message_id_for("rc", 42, 0));
        assert_eq!(a.len(), 17);
        assert_ne!(a, message_id_for("rc", 42, 1));
        assert_ne!(a, message_id_for("rc", 43, 0));
        assert_ne!(a, message_id_for("other-db", 42, 0));
        assert!(a.bytes().all(|b| ID_ALPHABET.contains(&b)));
    }
}
