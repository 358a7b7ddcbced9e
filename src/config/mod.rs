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
mod status_page;

use std::path::Path;

use serde::Deserialize;

use crate::domain::platform::{ChannelRole, PlatformKind};
use env::apply_env_override;
pub use paging::warnings;
pub use problem::{ConfigError, Problem, parse_duration, redact_url, secret};
pub use resolve::Settings;
pub use sections::{
    AnnouncementConfig, CalendarConfig, ChannelConfig, CommandsConfig, ConsoleConfig,
    DatabaseConfig, DeliveryConfig, EscalationConfig, EscalationStepConfig, MirrorConfig,
    NudgesConfig, PersonConfig, RotationConfig, SlaConfig,
};
pub use status_page::{ComponentConfig, StatusPageConfig};

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
    /// The public status page (`[status_page]`).
    pub status_page: StatusPageConfig,
    /// The status page's components (`[[component]]`).
    pub component: Vec<ComponentConfig>,
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
    load_with_warnings(path, env).0
}

/// [`load`] for a file's text.
pub fn parse(
    text: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Loaded, ConfigError> {
    parse_with_warnings(text, env).0
}

/// [`load`], and the configuration's [`warnings`] (listed even when it has problems).
pub fn load_with_warnings(
    path: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> (Result<Loaded, ConfigError>, Vec<Problem>) {
    let text = match path {
        Some(p) => match std::fs::read_to_string(p) {
            Ok(t) => t,
            Err(source) => {
                let e = ConfigError::Read {
                    path: p.to_path_buf(),
                    source,
                };
                return (Err(e), Vec::new());
            }
        },
        None => String::new(),
    };
    parse_with_warnings(&text, env)
}

fn parse_with_warnings(
    text: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> (Result<Loaded, ConfigError>, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut root: toml::Value = match toml::from_str::<toml::Table>(text) {
        Ok(t) => toml::Value::Table(t),
        Err(e) => {
            let key = e
                .span()
                .map(|s| format!("line {}", text[..s.start].lines().count().max(1)))
                .unwrap_or_else(|| "file".into());
            let e = ConfigError::Invalid(vec![Problem {
                key,
                reason: e.message().to_string(),
            }]);
            return (Err(e), Vec::new());
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
    let (config, type_errors) = deserialize_all(root, &mut problems);
    let Some(config) = config else {
        problems.extend(type_errors);
        return (Err(ConfigError::Invalid(problems)), Vec::new());
    };
    let warnings = paging::warnings(&config);
    let settings = Settings::from_config(&config);
    // What is left once the keys with type errors were taken out is checked too; a problem
    // of a key taken out (now missing) is the type error, listed already.
    let taken_out = |key: &str| {
        type_errors
            .iter()
            .any(|t| key == t.key || key.starts_with(&format!("{}.", t.key)))
    };
    let loaded = match settings {
        Ok(settings) if problems.is_empty() && type_errors.is_empty() => {
            Ok(Loaded { config, settings })
        }
        Ok(_) => {
            problems.extend(type_errors);
            Err(ConfigError::Invalid(problems))
        }
        Err(p) => {
            let p: Vec<Problem> = p.into_iter().filter(|p| !taken_out(&p.key)).collect();
            problems.extend(type_errors);
            problems.extend(p);
            Err(ConfigError::Invalid(problems))
        }
    };
    (loaded, warnings)
}

/// At most this many type errors are listed (each costs one more pass over the file).
const MAX_TYPE_ERRORS: usize = 100;

/// Deserializes `root`, listing every unknown key in `problems` and returning every type
/// error. serde stops at the first type error, so each one's key is taken out (its default
/// applies) and the rest is read again, until it reads or nothing more can be taken out.
fn deserialize_all(
    mut root: toml::Value,
    problems: &mut Vec<Problem>,
) -> (Option<Config>, Vec<Problem>) {
    let mut unknown: Vec<String> = Vec::new();
    let mut type_errors = Vec::new();
    let mut config = None;
    for _ in 0..MAX_TYPE_ERRORS {
        let mut seen = Vec::new();
        let mut track = |path: serde_ignored::Path<'_>| seen.push(path.to_string());
        let de = serde_ignored::Deserializer::new(root.clone(), &mut track);
        let read: Result<Config, _> = serde_path_to_error::deserialize(de);
        for key in seen {
            if !unknown.contains(&key) {
                unknown.push(key);
            }
        }
        match read {
            Ok(c) => {
                config = Some(c);
                break;
            }
            Err(e) => {
                // toml adds "in `key`" on a line of its own: the key is said already.
                let reason = e.inner().to_string();
                type_errors.push(Problem {
                    key: e.path().to_string(),
                    reason: reason.lines().next().unwrap_or_default().to_string(),
                });
                if !take_out(&mut root, e.path()) {
                    break;
                }
            }
        }
    }
    problems.extend(unknown.into_iter().map(|key| Problem {
        key,
        reason: "unknown key".into(),
    }));
    (config, type_errors)
}

/// Removes the innermost table key on `path` (an array with a bad element goes whole, so
/// the indices of later errors stay right). False when there is none.
fn take_out(root: &mut toml::Value, path: &serde_path_to_error::Path) -> bool {
    use serde_path_to_error::Segment;
    let segments: Vec<&Segment> = path.iter().collect();
    let Some(last) = segments
        .iter()
        .rposition(|s| matches!(s, Segment::Map { .. }))
    else {
        return false;
    };
    let mut v = root;
    for s in &segments[..last] {
        let next = match (s, v) {
            (Segment::Map { key }, toml::Value::Table(t)) => t.get_mut(key.as_str()),
            (Segment::Seq { index }, toml::Value::Array(a)) => a.get_mut(*index),
            _ => None,
        };
        match next {
            Some(n) => v = n,
            None => return false,
        }
    }
    match (segments[last], v) {
        (Segment::Map { key }, toml::Value::Table(t)) => t.remove(key.as_str()).is_some(),
        _ => false,
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
    fn every_type_error_is_listed_with_its_key() {
        let err = Config::from_str_with_env(
            "[sla]\nack_on_first_reply = \"yes\"\nbusiness_ack = 15\n\
             [database]\nmax_connections = \"many\"\n\
             [calendar]\nbusiness_days = [\"mon\", 2]\n\
             [[people]]\nname = \"alice\"\nslack = 7\n\
             [mirror]\nnope = 1\n",
            env(&[("FLARE__DELIVERY__MAX_ATTEMPTS", "lots")]),
        )
        .unwrap_err();
        let keys: Vec<String> = err.problems().into_iter().map(|p| p.key).collect();
        for key in [
            "sla.ack_on_first_reply",
            "sla.business_ack",
            "database.max_connections",
            "calendar.business_days[1]",
            "people[0].slack",
            "delivery.max_attempts",
            "mirror.nope",
        ] {
            assert!(keys.contains(&key.to_string()), "{key} missing in {keys:?}");
        }
        // Each once, and the messages are serde's own.
        assert_eq!(keys.len(), 7, "{keys:?}");
        let p = err.problems();
        let bool_error = p
            .iter()
            .find(|p| p.key == "sla.ack_on_first_reply")
            .expect("listed");
        assert!(
            bool_error.reason.contains("expected a boolean"),
            "{bool_error}"
        );
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
