//! Ack SLA policy: how long responders have to acknowledge an incident, decided by the kind
//! of time the incident started in.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::json;

use crate::domain::calendar::{BusinessCalendar, TimeClass};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaPolicy {
    pub business: Duration,
    pub after_hours: Duration,
}

/// The ack window and deadline of an incident that starts at a given instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaAssessment {
    pub class: TimeClass,
    pub window: Duration,
    pub deadline: DateTime<Utc>,
}

/// How an acknowledgement fared against its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlaOutcome {
    /// Acknowledged at or before the deadline, with this much time left.
    Met { margin: Duration },
    /// Acknowledged this long after the deadline.
    Breached { by: Duration },
}

impl SlaPolicy {
    /// Classifies the start and picks the window: the business one only in business hours.
    pub fn assess(&self, cal: &BusinessCalendar, started_at: DateTime<Utc>) -> SlaAssessment {
        let class = cal.classify(started_at);
        let window = if class.is_business() {
            self.business
        } else {
            self.after_hours
        };
        SlaAssessment {
            class,
            window,
            // Only reachable at the very end of chrono's range; never panic on a timestamp.
            deadline: started_at
                .checked_add_signed(window)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        }
    }
}

impl Default for SlaPolicy {
    /// 15 minutes in business hours, 60 otherwise.
    fn default() -> Self {
        SlaPolicy {
            business: Duration::minutes(15),
            after_hours: Duration::minutes(60),
        }
    }
}

impl SlaAssessment {
    /// The window in whole minutes, rounded up.
    pub fn ack_within_minutes(&self) -> i64 {
        ceil_minutes(self.window)
    }

    /// The one object `flare sla --json` prints.
    pub fn to_json(&self, cal: &BusinessCalendar) -> serde_json::Value {
        json!({
            "class": self.class.as_str(),
            "holiday": self.class.holiday(),
            "ack_within_minutes": self.ack_within_minutes(),
            "ack_deadline": self.deadline.to_rfc3339_opts(SecondsFormat::Secs, true),
            "ack_deadline_local": self
                .deadline
                .with_timezone(&cal.zone())
                .to_rfc3339_opts(SecondsFormat::Secs, false),
        })
    }

    /// Several lines for people: `flare sla` and the chat `sla` command.
    pub fn describe(&self, cal: &BusinessCalendar, started_at: DateTime<Utc>) -> String {
        format!(
            "Start:    {} ({})\nClass:    {}\nWindow:   ack within {}\nDeadline: {} ({})\nZone:     {}",
            local_text(cal, started_at),
            utc_text(started_at),
            self.class.label(),
            human_duration(self.window),
            local_text(cal, self.deadline),
            utc_text(self.deadline),
            cal.zone().name(),
        )
    }

    /// One line for the message that opens an incident:
    /// `ack within 15m (business hours), by Tue 2026-11-24 10:15:00 EST (2026-11-24 15:15:00 UTC)`.
    pub fn summary(&self, cal: &BusinessCalendar) -> String {
        format!(
            "ack within {} ({}), by {} ({})",
            human_duration(self.window),
            self.class.label(),
            local_text(cal, self.deadline),
            utc_text(self.deadline),
        )
    }
}

impl SlaOutcome {
    /// Time left at the acknowledgement: negative when breached. The inverse of [`outcome`]
    /// applied to a deadline, for storing one number.
    pub fn margin(&self) -> Duration {
        match self {
            SlaOutcome::Met { margin } => *margin,
            SlaOutcome::Breached { by } => -*by,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            SlaOutcome::Met { .. } => "met",
            SlaOutcome::Breached { .. } => "breached",
        }
    }

    pub fn is_met(&self) -> bool {
        matches!(self, SlaOutcome::Met { .. })
    }

    /// `SLA met with 4m 30s to spare` / `SLA breached by 1h 2m`.
    pub fn describe(&self) -> String {
        match self {
            SlaOutcome::Met { margin } => {
                format!("SLA met with {} to spare", human_duration(*margin))
            }
            SlaOutcome::Breached { by } => format!("SLA breached by {}", human_duration(*by)),
        }
    }
}

/// Met when acknowledged at the deadline or earlier.
pub fn outcome(deadline: DateTime<Utc>, acked_at: DateTime<Utc>) -> SlaOutcome {
    if acked_at <= deadline {
        SlaOutcome::Met {
            margin: deadline - acked_at,
        }
    } else {
        SlaOutcome::Breached {
            by: acked_at - deadline,
        }
    }
}

/// The two largest units, truncated: `45s`, `4m 30s`, `1h 2m`, `2d 3h`; `<1s` for a sliver
/// and `0s` for nothing. Negative durations get a leading `-`.
pub fn human_duration(d: Duration) -> String {
    if d < Duration::zero() {
        return format!("-{}", human_duration(d.abs()));
    }
    let secs = d.num_seconds();
    if secs == 0 {
        return if d.is_zero() { "0s" } else { "<1s" }.to_string();
    }
    let parts = [
        (secs / 86_400, "d"),
        (secs / 3600 % 24, "h"),
        (secs / 60 % 60, "m"),
        (secs % 60, "s"),
    ];
    let first = parts.iter().position(|(n, _)| *n > 0).unwrap_or(3);
    parts[first..]
        .iter()
        .take(2)
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn ceil_minutes(d: Duration) -> i64 {
    let secs = d.num_seconds();
    let partial = secs % 60 != 0 || d.subsec_nanos() != 0;
    secs / 60 + i64::from(partial && d > Duration::zero())
}

/// `Sun 2026-11-01 01:30:00 EST`.
fn local_text(cal: &BusinessCalendar, t: DateTime<Utc>) -> String {
    t.with_timezone(&cal.zone())
        .format("%a %Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

fn utc_text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn cal() -> BusinessCalendar {
        // The default `[calendar]`: New York, weekdays 07:00 to 20:00, US federal holidays.
        let weekdays = [true, true, true, true, true, false, false];
        BusinessCalendar::new(
            chrono_tz::America::New_York,
            weekdays,
            7 * 3600,
            20 * 3600,
            true,
            Default::default(),
        )
    }

    #[test]
    fn business_start_gets_the_short_window() {
        let a = SlaPolicy::default().assess(&cal(), t("2026-11-24T15:00:00Z"));
        assert_eq!(a.class, TimeClass::Business);
        assert_eq!(a.window, Duration::minutes(15));
        assert_eq!(a.deadline, t("2026-11-24T15:15:00Z"));
    }

    #[test]
    fn other_starts_get_the_long_window() {
        for at in [
            "2026-11-24T02:00:00Z", // after hours
            "2026-11-28T15:00:00Z", // Saturday
            "2026-11-26T15:00:00Z", // Thanksgiving
        ] {
            let a = SlaPolicy::default().assess(&cal(), t(at));
            assert!(!a.class.is_business(), "{at}");
            assert_eq!(a.window, Duration::minutes(60), "{at}");
        }
    }

    #[test]
    fn deadline_at_the_end_of_time_does_not_panic() {
        let a = SlaPolicy::default().assess(&cal(), DateTime::<Utc>::MAX_UTC);
        assert_eq!(a.deadline, DateTime::<Utc>::MAX_UTC);
    }

    #[test]
    fn minutes_round_up() {
        let mk = |w| SlaAssessment {
            class: TimeClass::Business,
            window: w,
            deadline: t("2026-01-01T00:00:00Z"),
        };
        assert_eq!(mk(Duration::minutes(15)).ack_within_minutes(), 15);
        assert_eq!(mk(Duration::seconds(2)).ack_within_minutes(), 1);
        assert_eq!(mk(Duration::seconds(61)).ack_within_minutes(), 2);
        assert_eq!(mk(Duration::milliseconds(60_001)).ack_within_minutes(), 2);
        assert_eq!(mk(Duration::zero()).ack_within_minutes(), 0);
    }

    #[test]
    fn outcome_at_the_deadline_is_met() {
        let dl = t("2026-11-24T15:15:00Z");
        assert_eq!(
            outcome(dl, dl),
            SlaOutcome::Met {
                margin: Duration::zero()
            }
        );
        assert_eq!(
            outcome(dl, t("2026-11-24T15:10:30Z")),
            SlaOutcome::Met {
                margin: Duration::seconds(270)
            }
        );
        let late = outcome(dl, t("2026-11-24T16:17:00Z"));
        assert_eq!(
            late,
            SlaOutcome::Breached {
                by: Duration::minutes(62)
            }
        );
        assert_eq!(late.describe(), "SLA breached by 1h 2m");
        assert_eq!(late.as_str(), "breached");
        assert_eq!(
            outcome(dl, t("2026-11-24T15:10:30Z")).describe(),
            "SLA met with 4m 30s to spare"
        );
        let sliver = dl + Duration::milliseconds(1);
        assert_eq!(outcome(dl, sliver).describe(), "SLA breached by <1s");
    }

    #[test]
    fn margin_is_signed() {
        let dl = t("2026-11-24T15:15:00Z");
        assert_eq!(
            outcome(dl, t("2026-11-24T15:10:00Z")).margin(),
            Duration::minutes(5)
        );
        assert_eq!(
            outcome(dl, t("2026-11-24T15:20:00Z")).margin(),
            Duration::minutes(-5)
        );
        assert_eq!(outcome(dl, dl).margin(), Duration::zero());
    }

    #[test]
    fn one_line_summary() {
        let a = SlaPolicy::default().assess(&cal(), t("2026-11-24T15:00:00Z"));
        assert_eq!(
            a.summary(&cal()),
            "ack within 15m (business hours), by Tue 2026-11-24 10:15:00 EST (2026-11-24 15:15:00 UTC)"
        );
    }

    #[test]
    fn human_durations() {
        let cases = [
            (Duration::zero(), "0s"),
            (Duration::milliseconds(400), "<1s"),
            (Duration::seconds(45), "45s"),
            (Duration::seconds(270), "4m 30s"),
            (Duration::minutes(15), "15m"),
            (Duration::seconds(3725), "1h 2m"),
            (Duration::hours(1), "1h"),
            (Duration::seconds(3605), "1h"),
            (Duration::hours(27), "1d 3h"),
            (Duration::days(2) + Duration::minutes(5), "2d"),
            (Duration::seconds(-270), "-4m 30s"),
        ];
        for (d, want) in cases {
            assert_eq!(human_duration(d), want, "{d:?}");
        }
        let _ = human_duration(Duration::MIN);
        let _ = human_duration(Duration::MAX);
    }
}
