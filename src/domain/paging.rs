//! Everything the SLA clock pages people with: rotations, escalation paths, update nudges
//! and scheduled announcements. Built from the configuration in `src/config/paging.rs`.

use chrono::Duration;

use super::cron_text::CronSchedule;
use super::escalation::Escalation;
use super::incident::Severity;
use super::oncall::Rotation;

/// A scheduled announcement.
#[derive(Debug, Clone)]
pub struct Announcement {
    pub name: String,
    pub schedule: CronSchedule,
    pub text: String,
    pub channels: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default)]
pub struct Paging {
    pub rotations: Vec<Rotation>,
    pub escalation: Escalation,
    /// Indexed like `Severity::ALL`.
    pub nudges: [Option<Duration>; 4],
    pub announcements: Vec<Announcement>,
}

/// `platform/channel` (the channel may itself contain `/`).
pub fn parse_place(s: &str) -> Option<(String, String)> {
    let (p, c) = s.trim().split_once('/')?;
    (!p.is_empty() && !c.is_empty()).then(|| (p.to_string(), c.to_string()))
}

impl Paging {
    pub fn nudge_after(&self, sev: Severity) -> Option<Duration> {
        let i = Severity::ALL.iter().position(|s| *s == sev)?;
        self.nudges[i]
    }

    pub fn rotation(&self, name: Option<&str>) -> Option<&Rotation> {
        match name {
            Some(n) => self
                .rotations
                .iter()
                .find(|r| r.name.eq_ignore_ascii_case(n)),
            None => self.rotations.first(),
        }
    }
}
