//! `[[slack]]` configuration: one entry per Slack workspace/app.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use super::{ChannelConfig, Problem, secret};
use crate::domain::platform::{ChannelRole, PlatformKind};

/// How Slack delivers events to Flare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SlackMode {
    /// Socket Mode: Flare dials out to Slack over a websocket (needs `app_token`, no public URL).
    #[default]
    Socket,
    /// Events API over HTTP: Slack posts signed requests to `listen` (needs `signing_secret`).
    Http,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SlackConfig {
    /// Instance name, used in logs and as the platform name of its messages (e.g. `slack`).
    pub name: String,
    /// `socket` (default) or `http`.
    pub mode: SlackMode,
    /// Web API base URL, ending in `/`; every method URL is this plus the method name, and the
    /// Socket Mode URL comes from `apps.connections.open` on it. Default `https://slack.com/api/`.
    pub api_base: String,
    /// Bot token (`xoxb-...`), usually from `FLARE__SLACK__0__BOT_TOKEN`.
    pub bot_token: Option<String>,
    /// File holding the bot token instead.
    pub bot_token_file: Option<PathBuf>,
    /// App-level token (`xapp-...`, scope `connections:write`), required in socket mode.
    pub app_token: Option<String>,
    /// File holding the app token instead.
    pub app_token_file: Option<PathBuf>,
    /// Signing secret, required in http mode (verifies `X-Slack-Signature`).
    pub signing_secret: Option<String>,
    /// File holding the signing secret instead.
    pub signing_secret_file: Option<PathBuf>,
    /// http mode: address the events endpoint listens on (`POST /slack/events`, slash commands
    /// also on `/slack/commands`). Default `127.0.0.1:3000`; put a TLS proxy in front.
    pub listen: String,
    /// The slash command that opens/drives incidents. Default `/incident`.
    pub slash_command: String,
    /// Status updates in an incident thread are also shown in the channel (`reply_broadcast`).
    pub broadcast_status_updates: bool,
    /// Messages per second per channel Flare allows itself (Slack allows about 1).
    pub channel_rate_per_sec: u32,
    /// Short bursts allowed above the per-channel rate.
    pub channel_burst: u32,
    /// A 429 whose Retry-After is at most this many seconds is waited out inside `send`;
    /// longer ones go back to the outbox as a retry.
    pub max_inline_retry_after_secs: u64,
    /// Seconds a signed HTTP request's timestamp may differ from now (Slack recommends 300).
    pub signature_max_age_secs: i64,
    /// Channels by id (`C0123ABC`), with their roles.
    pub channels: Vec<ChannelConfig>,
}

impl Default for SlackConfig {
    fn default() -> Self {
        SlackConfig {
            name: String::new(),
            mode: SlackMode::Socket,
            api_base: "https://slack.com/api/".into(),
            bot_token: None,
            bot_token_file: None,
            app_token: None,
            app_token_file: None,
            signing_secret: None,
            signing_secret_file: None,
            listen: "127.0.0.1:3000".into(),
            slash_command: "/incident".into(),
            broadcast_status_updates: true,
            channel_rate_per_sec: 1,
            channel_burst: 4,
            max_inline_retry_after_secs: 30,
            signature_max_age_secs: 300,
            channels: Vec::new(),
        }
    }
}

/// Secrets resolved from the config (value or file).
#[derive(Clone)]
pub struct SlackSecrets {
    pub bot_token: String,
    pub app_token: Option<String>,
    pub signing_secret: Option<String>,
}

impl std::fmt::Debug for SlackSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the tokens themselves.
        f.write_str("SlackSecrets { .. }")
    }
}

impl SlackConfig {
    pub fn validate(&self, key: &str, problems: &mut Vec<Problem>) {
        match url::Url::parse(&self.api_base) {
            Ok(u) if (u.scheme() == "https" || u.scheme() == "http") && u.path().ends_with('/') => {
            }
            Ok(_) => problems.push(Problem {
                key: format!("{key}.api_base"),
                reason: "must be an http(s) URL ending in `/`, like https://slack.com/api/".into(),
            }),
            Err(e) => problems.push(Problem {
                key: format!("{key}.api_base"),
                reason: format!("not a URL: {e}"),
            }),
        }
        self.secrets(key, problems);
        if self.mode == SlackMode::Http && self.listen.parse::<SocketAddr>().is_err() {
            problems.push(Problem {
                key: format!("{key}.listen"),
                reason: format!("`{}` is not an address like 127.0.0.1:3000", self.listen),
            });
        }
        if !self.slash_command.starts_with('/') || self.slash_command.len() < 2 {
            problems.push(Problem {
                key: format!("{key}.slash_command"),
                reason: "must start with `/`, like /incident".into(),
            });
        }
        if self.channel_rate_per_sec == 0 {
            problems.push(Problem {
                key: format!("{key}.channel_rate_per_sec"),
                reason: "must be at least 1".into(),
            });
        }
        if self.signature_max_age_secs <= 0 {
            problems.push(Problem {
                key: format!("{key}.signature_max_age_secs"),
                reason: "must be positive".into(),
            });
        }
        for (i, c) in self.channels.iter().enumerate() {
            if c.id.is_empty() || c.id.starts_with('#') {
                problems.push(Problem {
                    key: format!("{key}.channels[{i}].id"),
                    reason: "use the channel id (like C0123ABCD), not its name".into(),
                });
            }
        }
    }

    /// Resolves the tokens; every missing or unreadable one is a problem under `key`.
    pub fn secrets(&self, key: &str, problems: &mut Vec<Problem>) -> Option<SlackSecrets> {
        let before = problems.len();
        let bot_token = secret(
            &format!("{key}.bot_token"),
            &self.bot_token,
            &self.bot_token_file,
            problems,
        );
        if bot_token.as_deref().is_none_or(str::is_empty) && problems.len() == before {
            problems.push(Problem {
                key: format!("{key}.bot_token"),
                reason: "required (or bot_token_file)".into(),
            });
        }
        let app_token = secret(
            &format!("{key}.app_token"),
            &self.app_token,
            &self.app_token_file,
            problems,
        );
        if self.mode == SlackMode::Socket && app_token.as_deref().is_none_or(str::is_empty) {
            problems.push(Problem {
                key: format!("{key}.app_token"),
                reason: "required in socket mode (or app_token_file)".into(),
            });
        }
        let signing_secret = secret(
            &format!("{key}.signing_secret"),
            &self.signing_secret,
            &self.signing_secret_file,
            problems,
        );
        if self.mode == SlackMode::Http && signing_secret.as_deref().is_none_or(str::is_empty) {
            problems.push(Problem {
                key: format!("{key}.signing_secret"),
                reason: "required in http mode (or signing_secret_file)".into(),
            });
        }
        if problems.len() != before {
            return None;
        }
        Some(SlackSecrets {
            bot_token: bot_token.unwrap_or_default(),
            app_token,
            signing_secret,
        })
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
