//! `[[rocketchat]]` configuration: one entry per Rocket.Chat server.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{ChannelConfig, Problem, parse_duration, secret};
use crate::domain::platform::{ChannelRole, PlatformKind};

#[derive(Clone, Deserialize)]
#[serde(default)]
pub struct RocketChatConfig {
    /// This instance's name in Flare (e.g. `rc`, `rc-backup`); unique across all platforms.
    pub name: String,
    /// Base URL of the server, `https://chat.example.com` (http allowed for tests and
    /// internal servers). The realtime websocket is `<url>/websocket` (ws/wss).
    pub url: String,
    /// The bot's user id (`X-User-Id`), required with a personal access token.
    pub user_id: Option<String>,
    /// Personal access token (recommended: it does not expire and works with 2FA accounts).
    /// Usually set via `FLARE__ROCKETCHAT__0__TOKEN`.
    pub token: Option<String>,
    /// Read the personal access token from this file instead.
    pub token_file: Option<PathBuf>,
    /// Log in with username and password instead of a token (not possible with 2FA).
    pub username: Option<String>,
    /// Password for `username`.
    pub password: Option<String>,
    /// Read the password from this file instead.
    pub password_file: Option<PathBuf>,
    /// Rooms Flare works in: `id` is a room name (`ops`, `#ops`) or a room id.
    pub channels: Vec<ChannelConfig>,
    /// Subscribe to every room the bot is in (`__my_messages__`), not only `channels`, so
    /// `@bot` commands work anywhere the bot is invited.
    pub all_rooms: bool,
    /// Show a mirrored message's author with Rocket.Chat's `alias` (needs the
    /// `message-impersonate` permission, which the bot role has). When false the author is
    /// written at the start of the text.
    pub use_alias: bool,
    /// Status updates posted in a thread are also shown in the room (`tshow`).
    pub show_status_updates_in_channel: bool,
    /// Salt for the message ids Flare chooses (so two Flare databases posting to one server
    /// never pick the same id). Defaults to the instance name.
    pub id_salt: Option<String>,
    /// Timeout for each REST request (`10s`).
    pub request_timeout: String,
    /// First reconnect delay; doubles with jitter up to `reconnect_max`.
    pub reconnect_initial: String,
    /// Longest delay between reconnect attempts.
    pub reconnect_max: String,
    /// A rate-limit wait up to this long happens inside `send`; longer ones are handed back to
    /// the delivery worker as a retry after the reset time.
    pub max_rate_limit_wait: String,
    /// Longest message text before it is split (Rocket.Chat `Message_MaxAllowedSize`).
    pub max_message_chars: usize,
    /// At start, read back this much room history (`chat.syncMessages`), so what was said
    /// while Flare was down (or received but not yet handled when it died) is not lost. The
    /// engine deduplicates, so messages handled before are not handled twice. `0s` turns it
    /// off.
    pub startup_backfill: String,
}

impl Default for RocketChatConfig {
    fn default() -> Self {
        RocketChatConfig {
            name: String::new(),
            url: String::new(),
            user_id: None,
            token: None,
            token_file: None,
            username: None,
            password: None,
            password_file: None,
            channels: Vec::new(),
            all_rooms: false,
            use_alias: true,
            show_status_updates_in_channel: true,
            id_salt: None,
            request_timeout: "10s".into(),
            reconnect_initial: "1s".into(),
            reconnect_max: "60s".into(),
            max_rate_limit_wait: "30s".into(),
            max_message_chars: 5000,
            startup_backfill: "10m".into(),
        }
    }
}

/// Secrets are never printed, even in debug output.
impl std::fmt::Debug for RocketChatConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "***");
        f.debug_struct("RocketChatConfig")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("user_id", &self.user_id)
            .field("token", &hidden(&self.token))
            .field("token_file", &self.token_file)
            .field("username", &self.username)
            .field("password", &hidden(&self.password))
            .field("password_file", &self.password_file)
            .field("channels", &self.channels)
            .field("all_rooms", &self.all_rooms)
            .field("use_alias", &self.use_alias)
            .field(
                "show_status_updates_in_channel",
                &self.show_status_updates_in_channel,
            )
            .field("id_salt", &self.id_salt)
            .finish_non_exhaustive()
    }
}

/// How the adapter logs in, secrets resolved.
#[derive(Clone)]
pub enum Credentials {
    Token { user_id: String, token: String },
    Password { username: String, password: String },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Token { user_id, .. } => write!(f, "Token {{ user_id: {user_id} }}"),
            Credentials::Password { username, .. } => {
                write!(f, "Password {{ username: {username} }}")
            }
        }
    }
}

/// The config with durations parsed and secrets read.
#[derive(Debug, Clone)]
pub struct Settings {
    pub credentials: Credentials,
    pub request_timeout: Duration,
    pub reconnect_initial: Duration,
    pub reconnect_max: Duration,
    pub max_rate_limit_wait: Duration,
    pub startup_backfill: Duration,
}

impl RocketChatConfig {
    pub fn validate(&self, key: &str, problems: &mut Vec<Problem>) {
        match url::Url::parse(&self.url) {
            _ if self.url.is_empty() => problems.push(Problem {
                key: format!("{key}.url"),
                reason: "required: the server's base URL, e.g. https://chat.example.com".into(),
            }),
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => problems.push(Problem {
                key: format!("{key}.url"),
                reason: format!("`{}` is not an http(s) URL", self.url),
            }),
        }
        let _ = self.settings(key, problems);
        for (i, c) in self.channels.iter().enumerate() {
            if c.id.trim().trim_start_matches('#').is_empty() {
                problems.push(Problem {
                    key: format!("{key}.channels[{i}].id"),
                    reason: "a room name or room id is required".into(),
                });
            }
        }
        if self.max_message_chars < 100 {
            problems.push(Problem {
                key: format!("{key}.max_message_chars"),
                reason: "must be at least 100".into(),
            });
        }
    }

    /// Parses durations and resolves secrets; every problem names its key under `key`.
    pub fn settings(&self, key: &str, problems: &mut Vec<Problem>) -> Option<Settings> {
        let before = problems.len();
        let token = secret(
            &format!("{key}.token"),
            &self.token,
            &self.token_file,
            problems,
        );
        let password = secret(
            &format!("{key}.password"),
            &self.password,
            &self.password_file,
            problems,
        );
        let credentials = match (token, &self.user_id, password, &self.username) {
            (Some(token), Some(user_id), _, _) if !user_id.is_empty() => Some(Credentials::Token {
                user_id: user_id.clone(),
                token,
            }),
            (Some(_), _, _, _) => {
                problems.push(Problem {
                    key: format!("{key}.user_id"),
                    reason: "a personal access token needs the bot's user id".into(),
                });
                None
            }
            (None, _, Some(password), Some(username)) if !username.is_empty() => {
                Some(Credentials::Password {
                    username: username.clone(),
                    password,
                })
            }
            _ => {
                if problems.len() == before {
                    problems.push(Problem {
                        key: format!("{key}.token"),
                        reason: "give user_id + token (personal access token) or username + \
                                 password"
                            .into(),
                    });
                }
                None
            }
        };
        let d = |name: &str, v: &str, problems: &mut Vec<Problem>| {
            parse_duration(&format!("{key}.{name}"), v, problems)
        };
        let request_timeout = d("request_timeout", &self.request_timeout, problems);
        let reconnect_initial = d("reconnect_initial", &self.reconnect_initial, problems);
        let reconnect_max = d("reconnect_max", &self.reconnect_max, problems);
        let max_rate_limit_wait = d("max_rate_limit_wait", &self.max_rate_limit_wait, problems);
        let startup_backfill = d("startup_backfill", &self.startup_backfill, problems);
        Some(Settings {
            credentials: credentials?,
            request_timeout: request_timeout?,
            reconnect_initial: reconnect_initial?,
            reconnect_max: reconnect_max?,
            max_rate_limit_wait: max_rate_limit_wait?,
            startup_backfill: startup_backfill?,
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_needs_user_id_and_keys_are_named() {
        let cfg = RocketChatConfig {
            name: "rc".into(),
            url: "ftp://x".into(),
            token: Some("t".into()),
            ..Default::default()
        };
        let mut problems = Vec::new();
        cfg.validate("rocketchat[0]", &mut problems);
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert!(keys.contains(&"rocketchat[0].url"), "{keys:?}");
        assert!(keys.contains(&"rocketchat[0].user_id"), "{keys:?}");
    }

    #[test]
    fn password_login_is_valid() {
        let cfg = RocketChatConfig {
            name: "rc".into(),
            url: "https://chat.example.com".into(),
            username: Some("flare".into()),
            password: Some("pw".into()),
            ..Default::default()
        };
        let mut problems = Vec::new();
        cfg.validate("rocketchat[0]", &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let missing = RocketChatConfig {
            url: "https://chat.example.com".into(),
            ..Default::default()
        };
        missing.validate("rocketchat[1]", &mut problems);
        assert_eq!(problems[0].key, "rocketchat[1].token");
    }

    #[test]
    fn debug_output_hides_secrets() {
        let cfg = RocketChatConfig {
            token: Some("s3cret-token".into()),
            password: Some("s3cret-pw".into()),
            ..Default::default()
        };
        let text = format!("{cfg:?}");
        assert!(!text.contains("s3cret"), "{text}");
    }

    #[test]
    fn the_example_config_is_valid() {
        let text = include_str!("../../config/flare.example.toml");
        let env = [
            ("FLARE__SLACK__0__BOT_TOKEN", "xoxb-1"),
            ("FLARE__SLACK__0__APP_TOKEN", "xapp-1"),
            ("FLARE__ROCKETCHAT__0__TOKEN", "pat"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let c = crate::config::Config::from_str_with_env(text, env).expect("valid example");
        assert_eq!(c.rocketchat[0].token.as_deref(), Some("pat"));
    }
}
