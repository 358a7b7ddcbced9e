//! Configuration: a TOML file, overridden key by key from `FLARE__SECTION__KEY` environment
//! variables, with secrets from the environment or `*_file` paths.
//!
//! Loading never stops at the first problem: every unknown key, type error and invalid value is
//! collected as a [`Problem`] naming its key path, so `flare check-config` can list them all.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::chat::{irc, rocketchat, slack};
use crate::domain::platform::{ChannelRole, PlatformKind};

/// One thing wrong with the configuration, with the key it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration:\n{}", .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Problem>),
}

impl ConfigError {
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            ConfigError::Read { path, source } => vec![Problem {
                key: path.display().to_string(),
                reason: source.to_string(),
            }],
            ConfigError::Invalid(p) => p.clone(),
        }
    }
}

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
}

/// One on-call rotation.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct RotationConfig {
    /// Shown in `!oncall` and handoff announcements; unique.
    pub name: String,
    /// People from `[[people]]`, in turn order.
    pub participants: Vec<String>,
    /// `weekly` or `daily`.
    pub length: String,
    /// Weekday name of the handoff (`mon` .. `sun`); weekly rotations only.
    pub handoff_day: String,
    /// Local handoff time, `HH:MM`, in `zone`.
    pub handoff_time: String,
    /// IANA zone of the handoff (default: `calendar.zone`).
    pub zone: Option<String>,
    /// `YYYY-MM-DD`: the first participant's shift starts at the first handoff on or after
    /// this date (default 2024-01-01).
    pub start: Option<String>,
    /// Channels handoffs are announced in, as `platform/channel` (`slack/C0123`, `console/#ops`).
    pub announce: Vec<String>,
}

impl Default for RotationConfig {
    fn default() -> Self {
        RotationConfig {
            name: String::new(),
            participants: Vec::new(),
            length: "weekly".into(),
            handoff_day: "mon".into(),
            handoff_time: "09:00".into(),
            zone: None,
            start: None,
            announce: Vec::new(),
        }
    }
}

/// One escalation path.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct EscalationConfig {
    /// Severities this path is for (`SEV1`); empty: every severity without its own path.
    pub severities: Vec<String>,
    /// Rotation that `oncall` and `secondary` refer to (default: the first `[[rotation]]`).
    pub rotation: Option<String>,
    /// The steps (`[[escalation.step]]`), run in order of their delay.
    pub step: Vec<EscalationStepConfig>,
}

/// One escalation step.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct EscalationStepConfig {
    /// Delay after the breach (`0m`, `5m`).
    pub after: String,
    /// Who: `oncall`, `secondary`, `commander` or a person from `[[people]]`.
    pub notify: Vec<String>,
    /// `chat` (mention in the incident threads), `email` or `webhook` (recorded as pending
    /// transport until those transports exist).
    pub via: String,
    /// Webhook URL (`via = "webhook"` only).
    pub url: Option<String>,
}

impl Default for EscalationStepConfig {
    fn default() -> Self {
        EscalationStepConfig {
            after: "0m".into(),
            notify: Vec::new(),
            via: "chat".into(),
            url: None,
        }
    }
}

/// Nudge the commander when an open incident had no status update for this long, per
/// severity (`""` turns nudges off for it). Default: 30m for SEV1 and SEV2, off otherwise.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct NudgesConfig {
    pub sev1: String,
    pub sev2: String,
    pub sev3: String,
    pub sev4: String,
}

impl Default for NudgesConfig {
    fn default() -> Self {
        NudgesConfig {
            sev1: "30m".into(),
            sev2: "30m".into(),
            sev3: String::new(),
            sev4: String::new(),
        }
    }
}

/// One scheduled announcement.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct AnnouncementConfig {
    /// Unique name (default `announcement-<n>`).
    pub name: String,
    /// Cron expression, `min hour day month weekday` or with seconds first; weekday NAMES only.
    pub cron: String,
    /// IANA zone the expression is read in (default: `calendar.zone`).
    pub zone: Option<String>,
    /// The text posted.
    pub text: String,
    /// Where, as `platform/channel`.
    pub channels: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DatabaseConfig {
    /// `sqlite://path` (default `sqlite://data/flare.db`) or `postgres://...`.
    pub url: String,
    /// Read the URL from this file instead (it may hold a password).
    pub url_file: Option<PathBuf>,
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "sqlite://data/flare.db".into(),
            url_file: None,
            max_connections: 5,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct CalendarConfig {
    /// IANA zone the business hours are in.
    pub zone: String,
    /// Business weekdays, by name (`mon` .. `sun`).
    pub business_days: Vec<String>,
    /// Local start of business hours (inclusive), `HH:MM`.
    pub business_start: String,
    /// Local end of business hours (exclusive), `HH:MM`.
    pub business_end: String,
    /// Treat the US federal holidays (and their observed days) as closed.
    pub us_federal_holidays: bool,
    /// Extra closure dates, `YYYY-MM-DD`, with an optional name: `"2026-12-24 Christmas Eve"`.
    pub closures: Vec<String>,
}

impl Default for CalendarConfig {
    fn default() -> Self {
        CalendarConfig {
            zone: "America/New_York".into(),
            business_days: ["mon", "tue", "wed", "thu", "fri"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            business_start: "07:00".into(),
            business_end: "20:00".into(),
            us_federal_holidays: true,
            closures: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SlaConfig {
    /// Ack window for incidents that start in business hours (`15m`, `2s`, `1h`).
    pub business_ack: String,
    /// Ack window otherwise (after hours, weekends, holidays).
    pub after_hours_ack: String,
    /// The first message in an incident's thread from someone other than the opener
    /// acknowledges it.
    pub ack_on_first_reply: bool,
    /// Ack reminders before the deadline: fractions of the window (`50%`) or durations from
    /// the start (`5m`). Each must fall inside both windows.
    pub reminders: Vec<String>,
}

impl Default for SlaConfig {
    fn default() -> Self {
        SlaConfig {
            business_ack: "15m".into(),
            after_hours_ack: "60m".into(),
            ack_on_first_reply: true,
            reminders: vec!["50%".into(), "80%".into()],
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct CommandsConfig {
    /// Commands only people in the `[[people]]` directory with `responder = true` may run.
    /// Any of: open, ack, update, status, commander, resolve, reopen.
    pub responders_only: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct MirrorConfig {
    /// How a mirrored message names its author. `{name}` is the display name, `{platform}`
    /// the adapter's configured name, `{kind}` its kind (slack, irc, ...).
    pub attribution: String,
}

impl Default for MirrorConfig {
    fn default() -> Self {
        MirrorConfig {
            attribution: "<{name}@{platform}>".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DeliveryConfig {
    /// Give up on a delivery after this many attempts that failed temporarily.
    pub max_attempts: u32,
    /// First retry delay; it doubles each attempt, with jitter, up to `max_backoff`.
    pub initial_backoff: String,
    pub max_backoff: String,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            max_attempts: 1000,
            initial_backoff: "1s".into(),
            max_backoff: "5m".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct PersonConfig {
    pub name: String,
    pub slack: Option<String>,
    pub rocketchat: Option<String>,
    pub irc: Option<String>,
    pub console: Option<String>,
    pub email: Option<String>,
    /// May run the commands listed in `commands.responders_only`.
    pub responder: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ConsoleConfig {
    /// The channel console lines go to until switched.
    pub channel: String,
    /// The user console lines come from until switched.
    pub user: String,
    /// Channels the console shows incident threads in (the first is the default).
    pub channels: Vec<String>,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            channel: "#ops".into(),
            user: "you".into(),
            channels: vec!["#ops".into()],
        }
    }
}

/// A configured channel on a platform. Adapters reuse it in their own sections.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct ChannelConfig {
    /// Channel id (Slack `C...`), room name or id (Rocket.Chat) or name (IRC `#ops`).
    pub id: String,
    /// Incidents get a thread here and that thread is mirrored.
    pub incident: bool,
    /// Status updates and announcements go here.
    pub announce: bool,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        ChannelConfig {
            id: String::new(),
            incident: true,
            announce: false,
        }
    }
}

/// Parses `15m`, `2s`, `1h 30m`; a problem names `key`.
pub fn parse_duration(key: &str, value: &str, problems: &mut Vec<Problem>) -> Option<Duration> {
    match humantime::parse_duration(value.trim()) {
        Ok(d) => Some(d),
        Err(e) => {
            problems.push(Problem {
                key: key.to_string(),
                reason: format!("`{value}` is not a duration like 15m, 90s or 1h: {e}"),
            });
            None
        }
    }
}

/// Resolves a secret that may be given inline (usually from the environment) or as a file.
pub fn secret(
    key: &str,
    value: &Option<String>,
    file: &Option<PathBuf>,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    match (value, file) {
        (Some(_), Some(_)) => {
            problems.push(Problem {
                key: key.to_string(),
                reason: format!("give either {key} or {key}_file, not both"),
            });
            None
        }
        (Some(v), None) => Some(v.clone()),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(s) => Some(s.trim_end_matches(['\r', '\n']).to_string()),
            Err(e) => {
                problems.push(Problem {
                    key: format!("{key}_file"),
                    reason: format!("cannot read {}: {e}", path.display()),
                });
                None
            }
        },
        (None, None) => None,
    }
}

impl Config {
    /// Loads `path` (or only defaults when `None`), applies `FLARE__...` overrides from `env`,
    /// and validates everything.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.to_path_buf(),
                source,
            })?,
            None => String::new(),
        };
        Self::from_str_with_env(&text, env)
    }

    pub fn from_str_with_env(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
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
        config.validate(&mut problems);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    fn validate(&self, problems: &mut Vec<Problem>) {
        if let Err(p) = crate::domain::calendar::BusinessCalendar::from_config(&self.calendar) {
            problems.extend(p);
        }
        match crate::domain::sla::SlaPolicy::from_config(&self.sla) {
            Err(p) => problems.extend(p),
            Ok(policy) => {
                for (i, r) in self.sla.reminders.iter().enumerate() {
                    let key = format!("sla.reminders[{i}]");
                    match crate::domain::reminder::Offset::parse(r) {
                        Err(reason) => problems.push(Problem { key, reason }),
                        Ok(o) => {
                            for w in [policy.business, policy.after_hours] {
                                if o.within(w).is_none() {
                                    problems.push(Problem {
                                        key: key.clone(),
                                        reason: format!(
                                            "`{r}` falls outside the {} ack window",
                                            humantime::format_duration(
                                                w.to_std().unwrap_or_default()
                                            )
                                        ),
                                    });
                                    break;
                                }
                            }
                        }
                    }
                }
            }
        }
        if self.database.url_file.is_none()
            && !(self.database.url.starts_with("sqlite:")
                || self.database.url.starts_with("postgres://")
                || self.database.url.starts_with("postgresql://"))
        {
            problems.push(Problem {
                key: "database.url".into(),
                reason: format!(
                    "`{}` is neither a sqlite:// nor a postgres:// URL",
                    redact_url(&self.database.url)
                ),
            });
        }
        if self.database.max_connections == 0 {
            problems.push(Problem {
                key: "database.max_connections".into(),
                reason: "must be at least 1".into(),
            });
        }
        for (i, c) in self.commands.responders_only.iter().enumerate() {
            if !crate::domain::command::RESTRICTABLE.contains(&c.as_str()) {
                problems.push(Problem {
                    key: format!("commands.responders_only[{i}]"),
                    reason: format!(
                        "`{c}` is not a command that can be restricted (one of {})",
                        crate::domain::command::RESTRICTABLE.join(", ")
                    ),
                });
            }
        }
        if !self.mirror.attribution.contains("{name}") {
            problems.push(Problem {
                key: "mirror.attribution".into(),
                reason: "must contain {name}".into(),
            });
        }
        let d = &self.delivery;
        parse_duration("delivery.initial_backoff", &d.initial_backoff, problems);
        parse_duration("delivery.max_backoff", &d.max_backoff, problems);
        if d.max_attempts == 0 {
            problems.push(Problem {
                key: "delivery.max_attempts".into(),
                reason: "must be at least 1".into(),
            });
        }
        let mut names = BTreeMap::new();
        for (i, p) in self.people.iter().enumerate() {
            if p.name.trim().is_empty() {
                problems.push(Problem {
                    key: format!("people[{i}].name"),
                    reason: "every person needs a name".into(),
                });
            } else if names.insert(p.name.to_lowercase(), i).is_some() {
                problems.push(Problem {
                    key: format!("people[{i}].name"),
                    reason: format!("`{}` is listed twice", p.name),
                });
            }
        }
        let mut platforms = BTreeMap::new();
        let mut seen = |name: &str, key: String, problems: &mut Vec<Problem>| {
            if name.is_empty() {
                problems.push(Problem {
                    key,
                    reason: "every platform needs a name".into(),
                });
            } else if name == "console" || platforms.insert(name.to_string(), ()).is_some() {
                problems.push(Problem {
                    key,
                    reason: format!("platform name `{name}` is used twice (or is `console`)"),
                });
            }
        };
        if let Err(p) = crate::domain::paging::Paging::from_config(self) {
            problems.extend(p);
        }
        for (i, c) in self.irc.iter().enumerate() {
            seen(&c.name, format!("irc[{i}].name"), problems);
            c.validate(&format!("irc[{i}]"), problems);
        }
        for (i, c) in self.slack.iter().enumerate() {
            seen(&c.name, format!("slack[{i}].name"), problems);
            c.validate(&format!("slack[{i}]"), problems);
        }
        for (i, c) in self.rocketchat.iter().enumerate() {
            seen(&c.name, format!("rocketchat[{i}].name"), problems);
            c.validate(&format!("rocketchat[{i}]"), problems);
        }
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

/// Hides the password in a URL for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// `FLARE__SLACK__0__BOT_TOKEN=x` sets `slack[0].bot_token`.
fn apply_env_override(root: &mut toml::Value, var: &str, value: &str, problems: &mut Vec<Problem>) {
    let parts: Vec<String> = var["FLARE__".len()..]
        .split("__")
        .map(|s| s.to_ascii_lowercase())
        .collect();
    if parts.iter().any(|p| p.is_empty()) {
        problems.push(Problem {
            key: var.to_string(),
            reason: "malformed override: use FLARE__SECTION__KEY".into(),
        });
        return;
    }
    let mut node = root;
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let next = match node {
            toml::Value::Table(t) => {
                if last {
                    let parsed = match t.get(part) {
                        Some(toml::Value::String(_)) => parse_env_value(value, true),
                        _ => parse_env_value(value, false),
                    };
                    t.insert(part.clone(), parsed);
                    return;
                }
                let is_index = parts[i + 1].parse::<usize>().is_ok();
                t.entry(part.clone()).or_insert_with(|| {
                    if is_index {
                        toml::Value::Array(Vec::new())
                    } else {
                        toml::Value::Table(toml::Table::new())
                    }
                })
            }
            toml::Value::Array(a) => {
                let Ok(idx) = part.parse::<usize>() else {
                    problems.push(Problem {
                        key: var.to_string(),
                        reason: format!("`{part}` should be an index into a list"),
                    });
                    return;
                };
                if idx > a.len() {
                    problems.push(Problem {
                        key: var.to_string(),
                        reason: format!("index {idx} skips entries (the list has {})", a.len()),
                    });
                    return;
                }
                if idx == a.len() {
                    a.push(toml::Value::Table(toml::Table::new()));
                }
                if last {
                    a[idx] = parse_env_value(value, false);
                    return;
                }
                &mut a[idx]
            }
            _ => {
                problems.push(Problem {
                    key: var.to_string(),
                    reason: "overrides a key that is not a section".into(),
                });
                return;
            }
        };
        node = next;
    }
}

/// Environment values are TOML values when they parse as one (`true`, `5`, `["a","b"]`) and
/// plain strings otherwise; a key the file sets to a string stays a string. (A secret that looks
/// like a number belongs in a `*_file`, or quoted: `FLARE__X__PASSWORD='"1234"'`.)
fn parse_env_value(value: &str, prefer_string: bool) -> toml::Value {
    if prefer_string && !value.starts_with('[') {
        return toml::Value::String(value.to_string());
    }
    match toml::from_str::<toml::Table>(&format!("v = {value}")) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(value.into())),
        Err(_) => toml::Value::String(value.to_string()),
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
