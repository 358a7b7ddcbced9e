//! On-call rotations: who carries the pager now, who is next, and overrides.
//!
//! Handoffs are computed on the local wall clock of the rotation's zone, so a weekly handoff
//! at Monday 09:00 stays at 09:00 local on both sides of a DST change (the UTC instant moves).

use chrono::Weekday;
use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    Daily,
    Weekly,
}

impl Length {
    pub fn parse(s: &str) -> Option<Length> {
        match s.trim().to_ascii_lowercase().as_str() {
            "daily" | "day" => Some(Length::Daily),
            "weekly" | "week" => Some(Length::Weekly),
            _ => None,
        }
    }

    fn days(self) -> i64 {
        match self {
            Length::Daily => 1,
            Length::Weekly => 7,
        }
    }
}

/// A temporary swap: `person` is on call from `from` until `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub rotation: String,
    pub person: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rotation {
    pub name: String,
    pub participants: Vec<String>,
    pub length: Length,
    /// Weekly rotations hand off on this day; daily ones every day.
    pub handoff_day: Weekday,
    pub handoff_time: NaiveTime,
    pub zone: Tz,
    /// The local date of a handoff at which `participants[0]` starts.
    pub anchor: NaiveDate,
    /// `(platform, channel)` pairs handoffs are announced in.
    pub announce: Vec<(String, String)>,
}

/// Who is on call at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnCall {
    pub person: String,
    /// True when an override put them there.
    pub overridden: bool,
    /// When this changes next (handoff or override edge).
    pub until: DateTime<Utc>,
}

/// `mon`, `Monday`, ... (numbers are not weekdays here either).
pub fn parse_weekday(s: &str) -> Option<Weekday> {
    let s = s.trim().to_ascii_lowercase();
    let all = [
        ("mon", "monday", Weekday::Mon),
        ("tue", "tuesday", Weekday::Tue),
        ("wed", "wednesday", Weekday::Wed),
        ("thu", "thursday", Weekday::Thu),
        ("fri", "friday", Weekday::Fri),
        ("sat", "saturday", Weekday::Sat),
        ("sun", "sunday", Weekday::Sun),
    ];
    all.iter()
        .find(|(short, long, _)| s == *short || s == *long)
        .map(|(_, _, d)| *d)
}

/// The instant a local wall-clock time happens: the earlier of a repeated time, and the first
/// valid minute after a skipped one.
pub fn local_instant(zone: Tz, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let mut ndt = date.and_time(time);
    for _ in 0..4 {
        match zone.from_local_datetime(&ndt) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(a, _) => return a.with_timezone(&Utc),
            LocalResult::None => ndt += Duration::minutes(30),
        }
    }
    Utc.from_utc_datetime(&ndt)
}

impl Rotation {
    fn handoff_on(&self, date: NaiveDate) -> DateTime<Utc> {
        local_instant(self.zone, date, self.handoff_time)
    }

    /// The first handoff date on or after the anchor.
    fn first_date(&self) -> NaiveDate {
        match self.length {
            Length::Daily => self.anchor,
            Length::Weekly => {
                let ahead = (self.handoff_day.num_days_from_monday() as i64
                    - self.anchor.weekday().num_days_from_monday() as i64)
                    .rem_euclid(7);
                self.anchor + Duration::days(ahead)
            }
        }
    }

    /// The shift containing `t`: its number (from the anchor) and its local start date.
    fn shift_at(&self, t: DateTime<Utc>) -> (i64, NaiveDate) {
        let today = t.with_timezone(&self.zone).date_naive();
        let mut date = match self.length {
            Length::Daily => today,
            Length::Weekly => {
                let back = (today.weekday().num_days_from_monday() as i64
                    - self.handoff_day.num_days_from_monday() as i64)
                    .rem_euclid(7);
                today - Duration::days(back)
            }
        };
        if self.handoff_on(date) > t {
            date -= Duration::days(self.length.days());
        }
        let n = (date - self.first_date())
            .num_days()
            .div_euclid(self.length.days());
        (n, date)
    }

    fn person_of(&self, shift: i64) -> &str {
        if self.participants.is_empty() {
            return "";
        }
        let i = shift.rem_euclid(self.participants.len() as i64) as usize;
        &self.participants[i]
    }

    /// The first handoff strictly after `t`.
    pub fn next_handoff(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let (_, date) = self.shift_at(t);
        self.handoff_on(date + Duration::days(self.length.days()))
    }

    /// The last handoff at or before `t`.
    pub fn last_handoff(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        self.handoff_on(self.shift_at(t).1)
    }

    /// Who the schedule puts on call at `t`, ignoring overrides.
    pub fn scheduled(&self, t: DateTime<Utc>) -> &str {
        self.person_of(self.shift_at(t).0)
    }

    /// Who is on call at `t`: the latest override covering `t`, else the schedule.
    pub fn on_call(&self, t: DateTime<Utc>, overrides: &[Override]) -> OnCall {
        let next = self.next_handoff(t);
        let covering = overrides
            .iter()
            .rfind(|o| o.rotation == self.name && o.from <= t && t < o.to);
        let starts_before_next = overrides
            .iter()
            .filter(|o| o.rotation == self.name && o.from > t && o.from < next)
            .map(|o| o.from)
            .min();
        match covering {
            Some(o) => OnCall {
                person: o.person.clone(),
                overridden: true,
                until: o.to,
            },
            None => OnCall {
                person: self.scheduled(t).to_string(),
                overridden: false,
                until: starts_before_next.unwrap_or(next),
            },
        }
    }

    /// Who takes over at the next handoff after `t` (overrides included).
    pub fn next_on_call(&self, t: DateTime<Utc>, overrides: &[Override]) -> OnCall {
        let now = self.on_call(t, overrides);
        self.on_call(now.until, overrides)
    }

    /// The person after whoever is scheduled now: the secondary for escalations.
    pub fn secondary(&self, t: DateTime<Utc>) -> &str {
        self.person_of(self.shift_at(t).0 + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("instant")
            .with_timezone(&Utc)
    }

    fn weekly() -> Rotation {
        Rotation {
            name: "primary".into(),
            participants: vec!["alice".into(), "bob".into(), "carol".into()],
            length: Length::Weekly,
            handoff_day: Weekday::Mon,
            handoff_time: NaiveTime::from_hms_opt(9, 0, 0).expect("time"),
            zone: "America/New_York".parse().expect("zone"),
            anchor: NaiveDate::from_ymd_opt(2026, 11, 2).expect("date"),
            announce: vec![],
        }
    }

    #[test]
    fn weekly_handoffs_keep_local_time_across_dst() {
        let r = weekly();
        // Before and after 2026-11-01 (fall back) and 2027-03-14 (spring forward).
        assert_eq!(
            r.next_handoff(at("2026-10-27T12:00:00Z")),
            at("2026-11-02T14:00:00Z")
        );
        assert_eq!(
            r.last_handoff(at("2026-10-30T12:00:00Z")),
            at("2026-10-26T13:00:00Z")
        );
        assert_eq!(
            r.next_handoff(at("2027-03-09T12:00:00Z")),
            at("2027-03-15T13:00:00Z")
        );
        assert_eq!(r.scheduled(at("2026-11-02T13:59:00Z")), "carol");
        assert_eq!(r.scheduled(at("2026-11-02T14:00:00Z")), "alice");
        assert_eq!(r.scheduled(at("2026-11-09T14:00:00Z")), "bob");
        assert_eq!(r.secondary(at("2026-11-09T14:00:00Z")), "carol");
    }

    #[test]
    fn overrides_win_while_they_last() {
        let r = weekly();
        let o = Override {
            rotation: "primary".into(),
            person: "dave".into(),
            from: at("2026-11-03T00:00:00Z"),
            to: at("2026-11-04T00:00:00Z"),
        };
        let now = r.on_call(at("2026-11-03T12:00:00Z"), std::slice::from_ref(&o));
        assert_eq!(now.person, "dave");
        assert!(now.overridden);
        assert_eq!(now.until, at("2026-11-04T00:00:00Z"));
        let before = r.on_call(at("2026-11-02T20:00:00Z"), std::slice::from_ref(&o));
        assert_eq!(before.person, "alice");
        assert_eq!(before.until, at("2026-11-03T00:00:00Z"));
        let after = r.next_on_call(at("2026-11-03T12:00:00Z"), &[o]);
        assert_eq!(after.person, "alice");
    }

    #[test]
    fn daily_rotation() {
        let mut r = weekly();
        r.length = Length::Daily;
        assert_eq!(r.scheduled(at("2026-11-02T14:00:00Z")), "alice");
        assert_eq!(r.scheduled(at("2026-11-03T14:00:00Z")), "bob");
        assert_eq!(r.scheduled(at("2026-11-03T13:00:00Z")), "alice");
        assert_eq!(
            r.next_handoff(at("2026-11-03T13:00:00Z")),
            at("2026-11-03T14:00:00Z")
        );
    }
}
