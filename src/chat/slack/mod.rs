//! Slack adapter (issue 4). Placeholder config until the adapter lands.

use serde::Deserialize;

use crate::chat::{ChannelRole, PlatformKind};
use crate::config::{ChannelConfig, Problem};

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct SlackConfig {
    pub name: String,
    pub api_base: String,
    pub channels: Vec<ChannelConfig>,
}

impl SlackConfig {
    pub fn validate(&self, key: &str, problems: &mut Vec<Problem>) {
        if self.api_base.is_empty() {
            problems.push(Problem {
                key: format!("{key}.api_base"),
                reason: "required".into(),
            });
        }
    }

    pub fn channel_roles(&self) -> Vec<ChannelRole> {
        self.channels
            .iter()
            .map(|c| ChannelRole {
                platform: self.name.clone(),
                kind: PlatformKind::Slack,
                channel: c.id.clone(),
                incident: c.incident,
                announce: c.announce,
            })
            .collect()
    }
}

/// Placeholder until the adapter lands: refuses to start.
pub struct SlackAdapter {
    config: SlackConfig,
}

impl SlackAdapter {
    pub fn new(config: SlackConfig) -> anyhow::Result<SlackAdapter> {
        Ok(SlackAdapter { config })
    }
}

#[async_trait::async_trait]
impl crate::chat::ChatAdapter for SlackAdapter {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn kind(&self) -> PlatformKind {
        PlatformKind::Slack
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
