//! `[[irc]]` configuration: one entry per network.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{Problem, parse_duration, secret};
use crate::domain::platform::{ChannelRole, PlatformKind};

/// How incident conversations are kept apart in a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ThreadMode {
    /// Lines about incident n carry `[INC-n]`; people answer with `INC-n: ...` or a `+reply` tag.
    #[default]
    Prefix,
    /// Each incident gets its own channel `#<incident_channel_prefix>-inc-<n>`.
    Channel,
}

/// One channel on an IRC network.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct IrcChannelConfig {
    /// Channel name, e.g. `#ops`.
    pub id: String,
    /// Channel key (`+k`), if the channel has one.
    pub key: Option<String>,
    /// Incidents get a thread here and that thread is mirrored.
    pub incident: bool,
    /// Status updates and announcements go here.
    pub announce: bool,
    /// `prefix` (default) or `channel`: how incident threads look in this channel.
    pub thread: ThreadMode,
}

impl Default for IrcChannelConfig {
    fn default() -> Self {
        IrcChannelConfig {
            id: String::new(),
            key: None,
            incident: true,
            announce: false,
            thread: ThreadMode::Prefix,
        }
    }
}

/// One IRC network.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct IrcConfig {
    /// Name of this network in Flare (used in logs, errors and as the platform name).
    pub name: String,
    /// Server host name or address.
    pub server: String,
    /// Port; defaults to 6697 with TLS and 6667 without.
    pub port: Option<u16>,
    /// Connect with TLS (rustls, webpki roots plus `tls_ca_file`).
    pub tls: bool,
    /// Extra PEM CA certificate(s) to trust, e.g. for a private network's own CA.
    pub tls_ca_file: Option<PathBuf>,
    /// Server name to check the certificate against when it differs from `server`.
    pub tls_server_name: Option<String>,
    /// Server password (`PASS`); usually set via `FLARE__IRC__0__PASSWORD`.
    pub password: Option<String>,
    /// Read the server password from this file instead.
    pub password_file: Option<PathBuf>,
    /// Preferred nick.
    pub nick: String,
    /// Nicks to try, in order, when `nick` is taken or refused. Defaults to `nick_`, `nick__`.
    pub fallback_nicks: Vec<String>,
    /// USER name (ident); defaults to `flare`.
    pub username: String,
    /// Real name shown in WHOIS.
    pub realname: String,
    /// SASL PLAIN account, used when the server offers `sasl`.
    pub sasl_username: Option<String>,
    /// SASL PLAIN password; usually set via `FLARE__IRC__0__SASL_PASSWORD`.
    pub sasl_password: Option<String>,
    /// Read the SASL password from this file instead.
    pub sasl_password_file: Option<PathBuf>,
    /// Channels to join.
    pub channels: Vec<IrcChannelConfig>,
    /// Nicks whose messages are ignored (other bots).
    pub ignore_nicks: Vec<String>,
    /// Incident channels are named `#<incident_channel_prefix>-inc-<n>` (thread = "channel").
    pub incident_channel_prefix: String,
    /// Flood control: sustained lines per second Flare writes.
    pub lines_per_second: f64,
    /// Flood control: lines that may go out at once before the rate applies.
    pub burst: u32,
    /// Relayed messages waiting for one channel past which the rest are replaced by one
    /// summary line (how many, from whom, `!inc timeline INC-n`). Unset: what the flood rate
    /// writes in 30 s, three short messages to a packed line, plus `burst`. 0: never.
    pub relay_backlog_limit: Option<u32>,
    /// Send our own PING after this much silence from the server.
    pub ping_interval: String,
    /// Drop the link when the server has said nothing for this long after our PING.
    pub ping_timeout: String,
    /// First reconnect delay; it doubles (with jitter) up to `reconnect_max`.
    pub reconnect_min: String,
    /// Longest reconnect delay.
    pub reconnect_max: String,
}

impl Default for IrcConfig {
    fn default() -> Self {
        IrcConfig {
            name: String::new(),
            server: String::new(),
            port: None,
            tls: false,
            tls_ca_file: None,
            tls_server_name: None,
            password: None,
            password_file: None,
            nick: "flare".into(),
            fallback_nicks: Vec::new(),
            username: "flare".into(),
            realname: "Flare incident bot".into(),
            sasl_username: None,
            sasl_password: None,
            sasl_password_file: None,
            channels: Vec::new(),
            ignore_nicks: Vec::new(),
            incident_channel_prefix: "flare".into(),
            lines_per_second: 1.0,
            burst: 4,
            relay_backlog_limit: None,
            ping_interval: "60s".into(),
            ping_timeout: "30s".into(),
            reconnect_min: "1s".into(),
            reconnect_max: "5m".into(),
        }
    }
}

impl IrcConfig {
    /// How far behind a channel may fall, in relayed messages, before the rest of its backlog
    /// is summarised: the 30 s goal at `lines_per_second`, packed three to a line.
    pub fn backlog_limit(&self) -> Option<usize> {
        match self.relay_backlog_limit {
            Some(0) => None,
            Some(n) => Some(n as usize),
            None if self.lines_per_second.is_finite() && self.lines_per_second > 0.0 => {
                Some((30.0 * self.lines_per_second * 3.0).ceil() as usize + self.burst as usize)
            }
            None => None,
        }
    }
}

/// Durations and secrets resolved once, so the connection loop never parses config.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub password: Option<String>,
    pub sasl: Option<(String, String)>,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
}

pub(crate) fn is_valid_nick(n: &str) -> bool {
    !n.is_empty()
        && !n.starts_with(|c: char| c.is_ascii_digit() || c == '-')
        && n.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    '[' | ']' | '\\' | '`' | '_' | '^' | '{' | '|' | '}' | '-'
                )
        })
}

/// A channel name we can put on a JOIN/PRIVMSG line without it becoming something else.
pub(crate) fn is_valid_channel(c: &str) -> bool {
    c.len() > 1
        && c.len() <= 200
        && c.starts_with(['#', '&', '+', '!'])
        && !c.contains([' ', ',', '\x07', '\r', '\n', '\0', ':'])
}

impl IrcConfig {
    pub fn validate(&self, key: &str, problems: &mut Vec<Problem>) {
        let _ = self.resolve(key, problems);
    }

    pub(crate) fn resolve(&self, key: &str, problems: &mut Vec<Problem>) -> Option<Resolved> {
        let before = problems.len();
        if self.server.trim().is_empty() {
            problems.push(Problem {
                key: format!("{key}.server"),
                reason: "required".into(),
            });
        }
        if self.port == Some(0) {
            problems.push(Problem {
                key: format!("{key}.port"),
                reason: "must be 1..65535".into(),
            });
        }
        if !is_valid_nick(&self.nick) {
            problems.push(Problem {
                key: format!("{key}.nick"),
                reason: format!("`{}` is not a valid IRC nick", self.nick),
            });
        }
        for (i, n) in self.fallback_nicks.iter().enumerate() {
            if !is_valid_nick(n) {
                problems.push(Problem {
                    key: format!("{key}.fallback_nicks[{i}]"),
                    reason: format!("`{n}` is not a valid IRC nick"),
                });
            }
        }
        if self.username.is_empty() || self.username.contains([' ', '@', '\r', '\n', '\0']) {
            problems.push(Problem {
                key: format!("{key}.username"),
                reason: "must be one word".into(),
            });
        }
        if self.realname.contains(['\r', '\n', '\0']) {
            problems.push(Problem {
                key: format!("{key}.realname"),
                reason: "must be one line".into(),
            });
        }
        for (i, c) in self.channels.iter().enumerate() {
            if !is_valid_channel(&c.id) {
                problems.push(Problem {
                    key: format!("{key}.channels[{i}].id"),
                    reason: format!("`{}` is not a channel name like #ops", c.id),
                });
            }
            if let Some(k) = &c.key
                && (k.is_empty() || k.contains([' ', ',', '\r', '\n', '\0']))
            {
                problems.push(Problem {
                    key: format!("{key}.channels[{i}].key"),
                    reason: "must be one word".into(),
                });
            }
        }
        if self.incident_channel_prefix.is_empty()
            || !self
                .incident_channel_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            problems.push(Problem {
                key: format!("{key}.incident_channel_prefix"),
                reason: "letters, digits, - and _ only".into(),
            });
        }
        if !(self.lines_per_second.is_finite() && self.lines_per_second > 0.0) {
            problems.push(Problem {
                key: format!("{key}.lines_per_second"),
                reason: "must be a positive number".into(),
            });
        }
        if self.burst == 0 {
            problems.push(Problem {
                key: format!("{key}.burst"),
                reason: "must be at least 1".into(),
            });
        }
        if let Some(p) = &self.tls_ca_file
            && !p.is_file()
        {
            problems.push(Problem {
                key: format!("{key}.tls_ca_file"),
                reason: format!("{} is not a readable file", p.display()),
            });
        }
        let password = secret(
            &format!("{key}.password"),
            &self.password,
            &self.password_file,
            problems,
        );
        let sasl_password = secret(
            &format!("{key}.sasl_password"),
            &self.sasl_password,
            &self.sasl_password_file,
            problems,
        );
        let sasl = match (&self.sasl_username, sasl_password) {
            (Some(u), Some(p)) => Some((u.clone(), p)),
            (None, None) => None,
            _ => {
                problems.push(Problem {
                    key: format!("{key}.sasl_username"),
                    reason: "give both sasl_username and sasl_password (or neither)".into(),
                });
                None
            }
        };
        let d = |k: &str, v: &str, problems: &mut Vec<Problem>| {
            parse_duration(&format!("{key}.{k}"), v, problems).unwrap_or_default()
        };
        let resolved = Resolved {
            password,
            sasl,
            ping_interval: d("ping_interval", &self.ping_interval, problems),
            ping_timeout: d("ping_timeout", &self.ping_timeout, problems),
            reconnect_min: d("reconnect_min", &self.reconnect_min, problems),
            reconnect_max: d("reconnect_max", &self.reconnect_max, problems),
        };
        (problems.len() == before).then_some(resolved)
    }

    /// The port to use when none is configured follows the TLS convention.
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or(if self.tls { 6697 } else { 6667 })
    }

    /// Nicks to try in order.
    pub(crate) fn nicks(&self) -> Vec<String> {
        let mut v = vec![self.nick.clone()];
        if self.fallback_nicks.is_empty() {
            v.push(format!("{}_", self.nick));
            v.push(format!("{}__", self.nick));
        } else {
            v.extend(self.fallback_nicks.iter().cloned());
        }
        v
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

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn example_config_is_valid_and_complete() {
        let text = include_str!("../../config/flare.example.toml");
        let env = [
            ("FLARE__SLACK__0__BOT_TOKEN", "xoxb-1"),
            ("FLARE__SLACK__0__APP_TOKEN", "xapp-1"),
            ("FLARE__ROCKETCHAT__0__TOKEN", "pat"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let c = Config::from_str_with_env(text, env).expect("example config is valid");
        let irc = &c.irc[0];
        assert_eq!(irc.effective_port(), 6697);
        assert_eq!(irc.channels[1].thread, super::ThreadMode::Channel);
        assert_eq!(irc.channels[1].key.as_deref(), Some("s3cret"));
        assert_eq!(irc.channel_roles().len(), 2);
    }

    #[test]
    fn problems_name_their_keys() {
        let text = "[[irc]]\nname = \"n\"\nnick = \"9bad\"\nlines_per_second = 0\nping_interval = \"soon\"\nsasl_username = \"u\"\n[[irc.channels]]\nid = \"ops\"\n";
        let err = Config::from_str_with_env(text, Vec::new()).expect_err("invalid");
        let keys: Vec<String> = err.problems().into_iter().map(|p| p.key).collect();
        for k in [
            "irc[0].server",
            "irc[0].nick",
            "irc[0].lines_per_second",
            "irc[0].ping_interval",
            "irc[0].sasl_username",
            "irc[0].channels[0].id",
        ] {
            assert!(keys.contains(&k.to_string()), "{k} missing from {keys:?}");
        }
    }
    #[test]
    fn the_relay_backlog_limit_follows_the_flood_rate_unless_set() {
        let mut c = super::IrcConfig::default();
        // 30 s at 1 line/s, three messages to a packed line, plus the burst of 4.
        assert_eq!(c.backlog_limit(), Some(94));
        c.lines_per_second = 2.0;
        c.burst = 10;
        assert_eq!(c.backlog_limit(), Some(190));
        c.relay_backlog_limit = Some(25);
        assert_eq!(c.backlog_limit(), Some(25));
        c.relay_backlog_limit = Some(0);
        assert_eq!(c.backlog_limit(), None);
        for bad in ["-1", "\"lots\"", "1.5"] {
            let text = format!(
                "[[irc]]\nname = \"n\"\nserver = \"irc\"\nrelay_backlog_limit = {bad}\n\
                 [[irc.channels]]\nid = \"#ops\"\n"
            );
            let err = Config::from_str_with_env(&text, Vec::new()).expect_err(bad);
            let keys: Vec<String> = err.problems().into_iter().map(|p| p.key).collect();
            assert!(
                keys.iter().any(|k| k.contains("relay_backlog_limit")),
                "{bad}: {keys:?}"
            );
        }
    }
}
