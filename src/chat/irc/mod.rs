//! IRC adapter (issue 3). Placeholder config until the adapter lands.

use serde::Deserialize;

use crate::chat::{ChannelRole, PlatformKind};
use crate::config::{ChannelConfig, Problem};

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct IrcConfig {
    pub name: String,
    pub server: String,
    pub port: Option<u16>,
    pub tls: bool,
    pub nick: String,
    pub channels: Vec<ChannelConfig>,
}

impl IrcConfig {
    pub fn validate(&self, key: &str, problems: &mut Vec<Problem>) {
        if self.server.is_empty() {
            problems.push(Problem {
                key: format!("{key}.server"),
                reason: "required".into(),
            });
        }
    }

    pub fn channel_roles(&self) -> Vec<ChannelRole> {
        self.channels
            .iter()
            .map(|c| ChannelRole {
                platform: self.name.clone(),
                kind: PlatformKind::Irc,
                channel: c.id.clone(),
                incident: c.incident,
                announce: c.announce,
            })
            .collect()
    }
}
