//! Rocket.Chat adapter (issue 5). Placeholder config until the adapter lands.

use serde::Deserialize;

use crate::chat::{ChannelRole, PlatformKind};
use crate::config::{ChannelConfig, Problem};

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct RocketChatConfig {
    pub name: String,
    pub url: String,
    pub channels: Vec<ChannelConfig>,
}

impl RocketChatConfig {
    pub fn validate(&self, key: &str, problems: &mut Vec<Problem>) {
        if self.url.is_empty() {
            problems.push(Problem {
                key: format!("{key}.url"),
                reason: "required".into(),
            });
        }
    }

    pub fn channel_roles(&self) -> Vec<ChannelRole> {
        self.channels
            .iter()
            .map(|c| ChannelRole {
                platform: self.name.clone(),
                kind: PlatformKind::RocketChat,
                channel: c.id.clone(),
                incident: c.incident,
                announce: c.announce,
            })
            .collect()
    }
}
