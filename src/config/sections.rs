//! The plain sections of the configuration file, with their defaults. Checking them and
//! turning them into what Flare runs on is `resolve`'s work.

use std::path::PathBuf;

use serde::Deserialize;

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
