//! Cron expressions for announcements, checked the way people read them.
//!
//! The `cron` crate numbers weekdays from Sunday = 1, unlike Unix cron (Sunday = 0 or 7), so a
//! numeric weekday would silently fire on the wrong day: only names are accepted. A Unix-style
//! five-field expression gets a leading `0` seconds field.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use cron::Schedule;

/// A validated schedule in its zone.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    pub expression: String,
    pub zone: Tz,
    schedule: Schedule,
}

impl CronSchedule {
    /// Parses `expr` (5, 6 or 7 fields). The error says what is wrong, for the config problem.
    pub fn parse(expr: &str, zone: Tz) -> Result<CronSchedule, String> {
        let fields: Vec<&str> = expr.split_whitespace().collect();
        let normalized = match fields.len() {
            5 => format!("0 {}", fields.join(" ")),
            6 | 7 => fields.join(" "),
            n => {
                return Err(format!(
                    "`{expr}` has {n} fields; use `min hour day month weekday` or \
                     `sec min hour day month weekday [year]`"
                ));
            }
        };
        let weekday = normalized.split(' ').nth(5).unwrap_or("");
        if has_numeric_weekday(weekday) {
            return Err(format!(
                "`{expr}`: the weekday field `{weekday}` uses numbers; write weekday names \
                 (MON-FRI, SUN) because the cron crate counts Sunday as 1, not 0"
            ));
        }
        let schedule = Schedule::from_str(&normalized)
            .map_err(|e| format!("`{expr}` is not a cron expression: {e}"))?;
        Ok(CronSchedule {
            expression: expr.to_string(),
            zone,
            schedule,
        })
    }

    /// The first instant strictly after `t`, on the zone's wall clock.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule
            .after(&t.with_timezone(&self.zone))
            .next()
            .map(|d| d.with_timezone(&Utc))
    }
}

/// True when any weekday item (before a `/` step) is a number.
fn has_numeric_weekday(field: &str) -> bool {
    field.split(',').any(|item| {
        let base = item.split('/').next().unwrap_or("");
        base.split('-')
            .any(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_pass_numbers_fail() {
        let z: Tz = "America/New_York".parse().expect("zone");
        assert!(CronSchedule::parse("0 9 * * MON-FRI", z).is_ok());
        assert!(CronSchedule::parse("0 0 9 * * Mon,Wed *", z).is_ok());
        assert!(CronSchedule::parse("0 30 9 * * *", z).is_ok());
        let e = CronSchedule::parse("0 9 * * 1-5", z).unwrap_err();
        assert!(e.contains("weekday names"), "{e}");
        assert!(CronSchedule::parse("0 0 9 * * MON,3", z).is_err());
        assert!(CronSchedule::parse("0 9 * *", z).is_err());
        assert!(CronSchedule::parse("0 61 9 * * *", z).is_err());
    }

    #[test]
    fn next_is_local() {
        let z: Tz = "America/New_York".parse().expect("zone");
        let s = CronSchedule::parse("0 9 * * MON", z).expect("valid");
        let t = DateTime::parse_from_rfc3339("2026-11-24T15:00:00Z")
            .expect("t")
            .with_timezone(&Utc);
        let n = s.next_after(t).expect("next");
        assert_eq!(n.to_rfc3339(), "2026-11-30T14:00:00+00:00");
    }
}
