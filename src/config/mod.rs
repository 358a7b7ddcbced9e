//! Configuration: a TOML file, overridden key by key from `FLARE__SECTION__KEY` environment
//! variables, with secrets from the environment or `*_file` paths.
//!
//! Loading never stops at the first problem: every unknown key, type error and invalid value is
//! collected as a [`Problem`] naming its key path, so `flare check-config` can list them all.

pub mod http;
pub mod irc;
pub mod rocketchat;
pub mod slack;

mod calendar;
mod env;
mod paging;
mod people;
mod problem;
mod resolve;
mod sections;
mod sla;

use std::path::Path;

use serde::Deserialize;

use crate::domain::platform::{ChannelRole, PlatformKind};
use env::apply_env_override;
pub use problem::{ConfigError, Problem, parse_duration, redact_url, secret};
pub use resolve::Settings;
pub use sections::{
    AnnouncementConfig, CalendarConfig, ChannelConfig, CommandsConfig, ConsoleConfig,
    DatabaseConfig, DeliveryConfig, EscalationConfig, EscalationStepConfig, MirrorConfig,
    NudgesConfig, PersonConfig, RotationConfig, SlaConfig,
};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Config {
    pub database: DatabaseConfig,
    pub calendar: CalendarConfig,
    pub sla: SlaConfig,
    pub commands: CommandsConfig,
    pub mirror: MirrorConfig,
    pub delivery: DeliveryConfig,
    pub people: Vec<PersonConfig>,
    pub console: ConsoleConfig,
    pub irc: Vec<irc::IrcConfig>,
    pub slack: Vec<slack::SlackConfig>,
    pub rocketchat: Vec<rocketchat::RocketChatConfig>,
    /// On-call rotations (`[[rotation]]`).
    pub rotation: Vec<RotationConfig>,
    /// Escalation paths after an ack SLA breach (`[[escalation]]`), chosen by severity.
    pub escalation: Vec<EscalationConfig>,
    /// Reminders to post a status update (`[nudges]`).
    pub nudges: NudgesConfig,
    /// Scheduled announcements (`[[announcement]]`).
    pub announcement: Vec<AnnouncementConfig>,
    /// The HTTP server: health, readiness and metrics (`[http]`).
    pub http: http::HttpConfig,
}

/// The configuration file, read and checked once: the sections as written (the adapters and
/// the database take theirs) and the settings resolved from them.
pub struct Loaded {
    pub config: Config,
    pub settings: Settings,
}

/// Reads `path` (or only defaults when `None`), applies `FLARE__...` overrides from `env`, and
/// checks and resolves everything, or lists every problem.
pub fn load(
    path: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Loaded, ConfigError> {
    let text = match path {
        Some(p) => std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
            path: p.to_path_buf(),
            source,
        })?,
        None => String::new(),
    };
    parse(&text, env)
}

/// [`load`] for a file's text.
pub fn parse(
    text: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Loaded, ConfigError> {
    let mut problems = Vec::new();
    let mut root: toml::Value = match toml::from_str::<toml::Table>(text) {
        Ok(t) => toml::Value::Table(t),
        Err(e) => {
            let key = e
                .span()
                .map(|s| format!("line {}", text[..s.start].lines().count().max(1)))
                .unwrap_or_else(|| "file".into());
            return Err(ConfigError::Invalid(vec![Problem {
                key,
                reason: e.message().to_string(),
            }]));
        }
    };
    let mut env: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("FLARE__"))
        .collect();
    env.sort();
    for (k, v) in env {
        apply_env_override(&mut root, &k, &v, &mut problems);
    }
    let mut unknown = Vec::new();
    let mut track = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
    let de = serde_ignored::Deserializer::new(root, &mut track);
    let config: Result<Config, _> = serde_path_to_error::deserialize(de);
    for key in unknown {
        problems.push(Problem {
            key,
            reason: "unknown key".into(),
        });
    }
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            problems.push(Problem {
                key: e.path().to_string(),
                reason: e.inner().to_string(),
            });
            return Err(ConfigError::Invalid(problems));
        }
    };
    match Settings::from_config(&config) {
        Ok(settings) if problems.is_empty() => Ok(Loaded { config, settings }),
        Ok(_) => Err(ConfigError::Invalid(problems)),
        Err(p) => {
            problems.extend(p);
            Err(ConfigError::Invalid(problems))
        }
    }
}

impl Config {
    /// The sections of [`load`], for callers that resolve them later.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        load(path, env).map(|l| l.config)
    }

    /// The sections of [`parse`], for callers that resolve them later.
    pub fn from_str_with_env(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        parse(text, env).map(|l| l.config)
    }

    /// The database URL, read from `url_file` when given.
    pub fn database_url(&self) -> Result<String, ConfigError> {
        let Some(path) = &self.database.url_file else {
            return Ok(self.database.url.clone());
        };
        let mut problems = Vec::new();
        match secret("database.url", &None, &Some(path.clone()), &mut problems) {
            Some(u) => Ok(u),
            None => Err(ConfigError::Invalid(problems)),
        }
    }

    /// Every channel of every configured platform, with its role.
    pub fn channel_roles(&self) -> Vec<ChannelRole> {
        let mut roles = Vec::new();
        for c in &self.irc {
            roles.extend(c.channel_roles());
        }
        for c in &self.slack {
            roles.extend(c.channel_roles());
        }
        for c in &self.rocketchat {
            roles.extend(c.channel_roles());
        }
        roles
    }

    /// The console's channels, all incident and announcement channels.
    pub fn console_roles(&self) -> Vec<ChannelRole> {
        let mut channels = self.console.channels.clone();
        if !channels.contains(&self.console.channel) {
            channels.insert(0, self.console.channel.clone());
        }
        channels
            .into_iter()
            .map(|channel| ChannelRole {
                platform: "console".into(),
                kind: PlatformKind::Console,
                channel,
                incident: true,
                announce: true,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_valid() {
        let c = Config::from_str_with_env("", env(&[])).expect("defaults");
        assert_eq!(c.database.url, "sqlite://data/flare.db");
        assert_eq!(c.calendar.zone, "America/New_York");
    }

    #[test]
    fn unknown_keys_are_all_reported_with_their_path() {
        let err = Config::from_str_with_env(
            "[database]\nurl = \"sqlite://x.db\"\nurll = 1\n[sla]\nfoo = 2\n",
            env(&[]),
        )
        .unwrap_err();
        let keys: Vec<String> = err.problems().into_iter().map(|p| p.key).collect();
        assert!(keys.contains(&"database.urll".to_string()), "{keys:?}");
        assert!(keys.contains(&"sla.foo".to_string()), "{keys:?}");
    }

    #[test]
    fn type_errors_name_the_key() {
        let err = Config::from_str_with_env("[sla]\nack_on_first_reply = \"yes\"\n", env(&[]))
            .unwrap_err();
        let p = &err.problems()[0];
        assert_eq!(p.key, "sla.ack_on_first_reply");
    }

    #[test]
    fn env_overrides_keys_and_keeps_strings() {
        let c = Config::from_str_with_env(
            "",
            env(&[
                ("FLARE__DATABASE__URL", "postgres://u:p@h/db"),
                ("FLARE__SLA__ACK_ON_FIRST_REPLY", "false"),
                ("FLARE__CALENDAR__ZONE", "Europe/Paris"),
                ("OTHER", "x"),
            ]),
        )
        .expect("valid");
        assert_eq!(c.database.url, "postgres://u:p@h/db");
        assert!(!c.sla.ack_on_first_reply);
        assert_eq!(c.calendar.zone, "Europe/Paris");
    }

    #[test]
    fn env_override_of_unknown_key_is_an_error() {
        let err =
            Config::from_str_with_env("", env(&[("FLARE__DATABASE__NOPE", "1")])).unwrap_err();
        assert_eq!(err.problems()[0].key, "database.nope");
    }

    #[test]
    fn bad_values_are_all_listed() {
        let err = Config::from_str_with_env(
            "[calendar]\nzone = \"Mars/Olympus\"\n[sla]\nbusiness_ack = \"soon\"\n[database]\nurl = \"mysql://x\"\n",
            env(&[]),
        )
        .unwrap_err();
        let keys: Vec<String> = err.problems().into_iter().map(|p| p.key).collect();
        assert!(keys.contains(&"calendar.zone".to_string()), "{keys:?}");
        assert!(keys.contains(&"sla.business_ack".to_string()), "{keys:?}");
        assert!(keys.contains(&"database.url".to_string()), "{keys:?}");
    }

    #[test]
    fn secrets_from_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("token");
        std::fs::write(&f, "s3cret\n").expect("write");
        let mut problems = Vec::new();
        assert_eq!(
            secret("x.token", &None, &Some(f.clone()), &mut problems).as_deref(),
            Some("s3cret")
        );
        assert!(problems.is_empty());
        assert_eq!(
            secret("x.token", &Some("a".into()), &Some(f), &mut problems),
            None
        );
        assert_eq!(problems.len(), 1);
    }
}
