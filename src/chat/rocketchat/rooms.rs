//! Who the bot is, and which room id a configured channel, a room id or an `@user` DM names.

use serde_json::json;

use super::rest::RestError;
use super::{BotIdentity, RocketChatAdapter};
use crate::chat::SendError;

pub(super) fn channel_key(channel: &str) -> String {
    channel.trim().trim_start_matches('#').to_string()
}

impl RocketChatAdapter {
    /// Configured channels that could not be found at start, each with an error naming this
    /// server and the room.
    pub fn unresolved_channels(&self) -> Vec<String> {
        self.unresolved
            .read()
            .map(|u| u.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The room id a configured channel resolved to.
    pub fn room_id(&self, channel: &str) -> Option<String> {
        self.rooms.read().ok()?.get(&channel_key(channel)).cloned()
    }

    pub(super) fn bot(&self) -> Option<BotIdentity> {
        self.bot.read().ok()?.clone()
    }

    /// Who the bot is (`/api/v1/me`): its user id marks its own messages, its username makes
    /// `@bot open ...` a command.
    pub(super) async fn identify(&self) -> Result<BotIdentity, RestError> {
        if let Some(b) = self.bot() {
            return Ok(b);
        }
        let me = self.rest.get("me", &[]).await?;
        let (Some(user_id), Some(username)) = (me["_id"].as_str(), me["username"].as_str()) else {
            return Err(RestError::Malformed("/me without _id or username".into()));
        };
        let b = BotIdentity {
            user_id: user_id.to_string(),
            username: username.to_string(),
        };
        if let Ok(mut g) = self.bot.write() {
            *g = Some(b.clone());
        }
        Ok(b)
    }

    /// Looks a configured channel up by room id, then by name.
    async fn resolve_room(&self, channel: &str) -> Result<String, RestError> {
        let key = channel_key(channel);
        if let Some(rid) = self.room_id(&key) {
            return Ok(rid);
        }
        let mut last = None;
        for param in ["roomId", "roomName"] {
            match self.rest.get("rooms.info", &[(param, key.clone())]).await {
                Ok(v) => {
                    if let Some(rid) = v["room"]["_id"].as_str() {
                        let rid = rid.to_string();
                        if let Ok(mut m) = self.rooms.write() {
                            m.insert(key.clone(), rid.clone());
                        }
                        if let Ok(mut m) = self.room_channels.write() {
                            m.insert(rid.clone(), channel.trim().to_string());
                        }
                        if let Ok(mut u) = self.unresolved.write() {
                            u.remove(&key);
                        }
                        return Ok(rid);
                    }
                }
                Err(e @ RestError::Rejected { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(RestError::Malformed("rooms.info without room".into())))
    }

    /// Resolves every configured channel; an unknown room is reported and skipped.
    pub(super) async fn resolve_channels(&self) -> Result<Vec<String>, RestError> {
        let mut rids = Vec::new();
        for c in &self.cfg.channels {
            match self.resolve_room(&c.id).await {
                Ok(rid) => rids.push(rid),
                Err(e @ RestError::Rejected { .. }) => {
                    let msg = format!(
                        "rocketchat `{}`: room `{}` not found or not visible to the bot ({e}); \
                         the other rooms keep working",
                        self.cfg.name, c.id
                    );
                    tracing::error!("{msg}");
                    if let Ok(mut u) = self.unresolved.write() {
                        u.insert(channel_key(&c.id), msg);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(rids)
    }
    /// The room id to send to: a configured channel's id (resolving it now if `run` has not
    /// yet), or the channel taken as a room id.
    pub(super) async fn target_room(&self, channel: &str) -> Result<String, SendError> {
        let key = channel_key(channel);
        if let Some(rid) = self.room_id(&key) {
            return Ok(rid);
        }
        if let Some(username) = channel.trim().strip_prefix('@') {
            return self.direct_room(&key, username).await;
        }
        let configured = self.cfg.channels.iter().any(|c| channel_key(&c.id) == key);
        if !configured {
            return Ok(channel.trim().to_string());
        }
        match self.resolve_room(channel).await {
            Ok(rid) => Ok(rid),
            Err(RestError::Rejected { error, .. }) => Err(SendError::Permanent(format!(
                "rocketchat `{}`: room `{channel}` not found or not visible to the bot ({error})",
                self.cfg.name
            ))),
            Err(e) => Err(self.send_error(e, channel)),
        }
    }

    /// The direct-message room with `username` (`im.create` returns the existing one too).
    async fn direct_room(&self, key: &str, username: &str) -> Result<String, SendError> {
        let name = &self.cfg.name;
        match self
            .rest
            .post("im.create", &json!({ "username": username }))
            .await
        {
            Ok(v) => match v["room"]["_id"].as_str().or(v["room"]["rid"].as_str()) {
                Some(rid) => {
                    if let Ok(mut m) = self.rooms.write() {
                        m.insert(key.to_string(), rid.to_string());
                    }
                    Ok(rid.to_string())
                }
                None => Err(SendError::Permanent(format!(
                    "rocketchat `{name}`: im.create for @{username} returned no room"
                ))),
            },
            Err(RestError::Rejected { error, .. }) => Err(SendError::Permanent(format!(
                "rocketchat `{name}`: cannot open a direct message with @{username} ({error})"
            ))),
            Err(e) => Err(self.send_error(e, &format!("@{username}"))),
        }
    }
}
