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

/// Placeholder until the adapter lands: refuses to start.
pub struct IrcAdapter {
    config: IrcConfig,
}

impl IrcAdapter {
    pub fn new(config: IrcConfig) -> anyhow::Result<IrcAdapter> {
        Ok(IrcAdapter { config })
    }
}

#[async_trait::async_trait]
impl crate::chat::ChatAdapter for IrcAdapter {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn kind(&self) -> PlatformKind {
        PlatformKind::Irc
    }

    async fn run(
        self: std::sync::Arc<Self>,
        _inbound: crate::chat::InboundSink,
    ) -> anyhow::Result<()> {
        anyhow::bail!("{}: this build has no adapter for it yet", self.config.name)
    }

    async fn send(
        &self,
        _msg: &crate::chat::Outbound,
    ) -> Result<crate::chat::Sent, crate::chat::SendError> {
        Err(crate::chat::SendError::Permanent("no adapter".into()))
    }
}
