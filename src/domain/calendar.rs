//! Business calendar: when is an instant inside business hours, in the team's own zone.
//!
//! Every question is asked of a UTC instant and answered on the local wall clock of the
//! configured IANA zone, so both DST transitions (including the repeated hour in autumn, which
//! is unambiguous from UTC) come out right.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono::{Offset, TimeDelta, TimeZone, Timelike, Weekday};
use chrono_tz::Tz;
use serde::Serialize;

use crate::domain::holidays;

/// What kind of time an instant is, for the ack window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum TimeClass {
    Business,
    AfterHours,
    /// Any day that is not a business day (not only Saturday and Sunday).
    Weekend,
    Holiday {
        name: String,
    },
}

impl TimeClass {
    pub fn as_str(&self) -> &'static str {
        match self {
            TimeClass::Business => "business",
            TimeClass::AfterHours => "after_hours",
            TimeClass::Weekend => "weekend",
            TimeClass::Holiday { .. } => "holiday",
        }
    }

    pub fn holiday(&self) -> Option<&str> {
        match self {
            TimeClass::Holiday { name } => Some(name),
            _ => None,
        }
    }

    pub fn is_business(&self) -> bool {
        matches!(self, TimeClass::Business)
    }

    /// The inverse of [`as_str`](Self::as_str) and [`holiday`](Self::holiday), for reading a
    /// recorded class back. A holiday needs its name.
    pub fn from_parts(class: &str, holiday: Option<&str>) -> Option<TimeClass> {
        match (class, holiday) {
            ("business", _) => Some(TimeClass::Business),
            ("after_hours", _) => Some(TimeClass::AfterHours),
            ("weekend", _) => Some(TimeClass::Weekend),
            ("holiday", Some(name)) => Some(TimeClass::Holiday { name: name.into() }),
            _ => None,
        }
    }

    /// For people: `business hours`, `after hours`, `weekend`, `holiday (Christmas Day)`.
    pub fn label(&self) -> String {
        match self {
            TimeClass::Business => "business hours".into(),
            TimeClass::AfterHours => "after hours".into(),
            TimeClass::Weekend => "weekend".into(),
            TimeClass::Holiday { name } => format!("holiday ({name})"),
        }
    }
}

/// Seconds in a day: `business_end = "24:00"` means until midnight.
const DAY_SECS: u32 = 86_400;

/// The zone, the weekly business hours and the closed days.
#[derive(Debug, Clone)]
pub struct BusinessCalendar {
    zone: Tz,
    /// Indexed by days from Monday.
    business_days: [bool; 7],
    /// Local start of business hours, seconds from midnight (inclusive).
    start: u32,
    /// Local end of business hours, seconds from midnight (exclusive, at most a whole day).
    end: u32,
    us_federal_holidays: bool,
    closures: BTreeMap<NaiveDate, String>,
}

impl BusinessCalendar {
    /// A calendar from checked values: `start` before `end`, both seconds from local
    /// midnight, `end` at most a whole day. The configuration checks and converts its section
    /// (`src/config/calendar.rs`), so the rules never depend on how they were written down.
    pub fn new(
        zone: Tz,
        business_days: [bool; 7],
        start: u32,
        end: u32,
        us_federal_holidays: bool,
        closures: BTreeMap<NaiveDate, String>,
    ) -> Self {
        BusinessCalendar {
            zone,
            business_days,
            start,
            end: end.min(DAY_SECS),
            us_federal_holidays,
            closures,
        }
    }

    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// Classifies an instant: holidays and closures first, then non-business days, then the
    /// hours of the day.
    pub fn classify(&self, at: DateTime<Utc>) -> TimeClass {
        let local = at.with_timezone(&self.zone).naive_local();
        let date = local.date();
        if let Some(name) = self.holiday_on(date) {
            return TimeClass::Holiday { name };
        }
        if !self.is_business_weekday(date.weekday()) {
            return TimeClass::Weekend;
        }
        let secs = local.time().num_seconds_from_midnight();
        if secs >= self.start && secs < self.end {
            TimeClass::Business
        } else {
            TimeClass::AfterHours
        }
    }

    /// The name of the closure or federal holiday (or its observed day) on a local date.
    /// A configured closure's name wins over a federal holiday on the same date.
    pub fn holiday_on(&self, date: NaiveDate) -> Option<String> {
        if let Some(name) = self.closures.get(&date) {
            return Some(name.clone());
        }
        if self.us_federal_holidays {
            return holidays::federal_holiday_on(date);
        }
        None
    }

    /// Reads an instant for `flare sla` and the chat `sla` command: RFC 3339 with an offset
    /// or `Z`, or a wall-clock time `YYYY-MM-DD HH:MM[:SS]` (or with `T`) in the calendar's
    /// zone. A wall-clock time the clocks skip or repeat is refused with the reason.
    pub fn parse_instant(&self, text: &str) -> Result<DateTime<Utc>, String> {
        let text = text.trim();
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Ok(t.with_timezone(&Utc));
        }
        let local = [
            "%Y-%m-%d %H:%M:%S",
            "%Y-%m-%d %H:%M",
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%dT%H:%M",
        ]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .ok_or_else(|| {
            format!(
                "`{text}` is not a time: use RFC 3339 (2026-11-24T15:00:00Z) or a local \
                     time in {} (2026-11-24 10:00)",
                self.zone.name()
            )
        })?;
        match self.zone.from_local_datetime(&local) {
            LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(a, b) => Err(format!(
                "{local} happens twice in {} ({} and {}): give the offset, e.g. {}",
                self.zone.name(),
                a.format("%Z"),
                b.format("%Z"),
                a.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
            )),
            LocalResult::None => Err(format!(
                "{local} does not exist in {}: the clocks skip it",
                self.zone.name()
            )),
        }
    }

    pub fn is_business_weekday(&self, wd: Weekday) -> bool {
        self.business_days[wd.num_days_from_monday() as usize]
    }

    /// The first instant at or after `after` that is in business hours. Business hours that
    /// start inside a DST gap start when the clocks jump past the gap; when the clocks fall
    /// back into business hours, they start at the change.
    pub fn next_business_start(&self, after: DateTime<Utc>) -> DateTime<Utc> {
        // Each step moves to the next instant where the class can change: the start of the
        // hours (today or on a later day) or an offset change before it. Holidays and closures
        // are finite, so a business day comes within a few weeks; the bound only guards
        // against a calendar whose every day is closed.
        const MAX_STEPS: usize = 20_000;
        let start_time =
            NaiveTime::from_num_seconds_from_midnight_opt(self.start, 0).unwrap_or(NaiveTime::MIN);
        let mut t = after;
        for _ in 0..MAX_STEPS {
            let local = t.with_timezone(&self.zone).naive_local();
            let date = local.date();
            let open = self.is_business_weekday(date.weekday()) && self.holiday_on(date).is_none();
            let secs = local.time().num_seconds_from_midnight();
            if open && secs >= self.start && secs < self.end {
                return t;
            }
            let target_date = if open && secs < self.start {
                date
            } else {
                match date.checked_add_days(Days::new(1)) {
                    Some(d) => d,
                    None => return t,
                }
            };
            let mut next = self.first_instant_at_or_after(target_date.and_time(start_time), t);
            if let Some(change) = self.offset_change_between(t, next) {
                next = next.min(change);
            }
            // Real zones always move forward here; a step of one second keeps a pathological
            // zone from looping on the same instant.
            t = if next > t {
                next
            } else {
                match t.checked_add_signed(TimeDelta::seconds(1)) {
                    Some(n) => n,
                    None => return t,
                }
            };
        }
        t
    }

    /// The first instant not before `not_before` whose local wall clock reads `local`, or the
    /// first instant after a DST gap that swallowed `local`.
    fn first_instant_at_or_after(
        &self,
        local: NaiveDateTime,
        not_before: DateTime<Utc>,
    ) -> DateTime<Utc> {
        match self.zone.from_local_datetime(&local) {
            LocalResult::Single(t) => t.with_timezone(&Utc),
            LocalResult::Ambiguous(a, b) => {
                let (a, b) = (a.with_timezone(&Utc), b.with_timezone(&Utc));
                let (early, late) = if a <= b { (a, b) } else { (b, a) };
                if early >= not_before { early } else { late }
            }
            LocalResult::None => self.end_of_gap(local).unwrap_or(not_before),
        }
    }

    /// UTC offset in seconds at an instant given in whole seconds.
    fn offset_at(&self, secs: i64) -> Option<i32> {
        let t = DateTime::from_timestamp(secs, 0)?;
        Some(
            self.zone
                .offset_from_utc_datetime(&t.naive_utc())
                .fix()
                .local_minus_utc(),
        )
    }

    /// The first instant in `(from, to]` with another UTC offset than `from`, if the offsets
    /// at both ends differ. Transitions fall on whole seconds.
    fn offset_change_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let (lo, hi) = (from.timestamp(), to.timestamp());
        let before = self.offset_at(lo)?;
        if hi <= lo || self.offset_at(hi)? == before {
            return None;
        }
        let first = first_second_where(lo, hi, |s| self.offset_at(s) != Some(before));
        DateTime::from_timestamp(first, 0)
    }

    /// For a wall-clock time skipped by a transition: the first instant whose wall clock
    /// reads later than it, found by bisection between the offsets either side.
    fn end_of_gap(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        let naive = local.and_utc().timestamp();
        let day = 86_400;
        let before = i64::from(self.offset_at(naive - day)?);
        let after = i64::from(self.offset_at(naive + day)?);
        let (lo, hi) = (naive - before.max(after), naive - before.min(after));
        let reads_later = |s: i64| {
            DateTime::from_timestamp(s, 0)
                .is_some_and(|t| t.with_timezone(&self.zone).naive_local() >= local)
        };
        if !reads_later(hi) {
            return None;
        }
        if reads_later(lo) {
            return DateTime::from_timestamp(lo, 0);
        }
        DateTime::from_timestamp(first_second_where(lo, hi, reads_later), 0)
    }
}

/// The first second in `(lo, hi]` where `pred` holds, given it fails at `lo`, holds at `hi`
/// and flips only once in between.
fn first_second_where(mut lo: i64, mut hi: i64, pred: impl Fn(i64) -> bool) -> i64 {
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

/// `mon`, `Monday`, `TUE`, ...
pub fn parse_weekday(name: &str) -> Option<Weekday> {
    let n = name.trim().to_ascii_lowercase();
    let full = [
        ("monday", Weekday::Mon),
        ("tuesday", Weekday::Tue),
        ("wednesday", Weekday::Wed),
        ("thursday", Weekday::Thu),
        ("friday", Weekday::Fri),
        ("saturday", Weekday::Sat),
        ("sunday", Weekday::Sun),
    ];
    full.iter()
        .find(|(f, _)| n == *f || (n.len() == 3 && f.starts_with(n.as_str())))
        .map(|(_, wd)| *wd)
}

/// `HH:MM` (or `H:MM`) to seconds from midnight; `24:00` only where a day's end is allowed.
pub fn parse_clock(s: &str, allow_end_of_day: bool) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(h) || h.len() > 2 || !all_digits(m) || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    if h == 24 && m == 0 && allow_end_of_day {
        return Some(DAY_SECS);
    }
    (h < 24 && m < 60).then_some(h * 3600 + m * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_round_trip_through_their_parts() {
        for class in [
            TimeClass::Business,
            TimeClass::AfterHours,
            TimeClass::Weekend,
            TimeClass::Holiday {
                name: "Labor Day".into(),
            },
        ] {
            assert_eq!(
                TimeClass::from_parts(class.as_str(), class.holiday()),
                Some(class.clone())
            );
        }
        assert_eq!(TimeClass::from_parts("holiday", None), None);
        assert_eq!(TimeClass::from_parts("lunch", None), None);
    }

    #[test]
    fn clock_parsing() {
        assert_eq!(parse_clock("07:00", false), Some(7 * 3600));
        assert_eq!(parse_clock("7:30", false), Some(7 * 3600 + 1800));
        assert_eq!(parse_clock(" 23:59 ", false), Some(23 * 3600 + 59 * 60));
        assert_eq!(parse_clock("24:00", true), Some(DAY_SECS));
        for bad in [
            "24:00", "07:60", "7", "07:0", "-1:00", "+7:00", "007:00", "", ":", "ab:cd",
        ] {
            assert_eq!(parse_clock(bad, false), None, "{bad}");
        }
    }

    #[test]
    fn weekday_names() {
        assert_eq!(parse_weekday("mon"), Some(Weekday::Mon));
        assert_eq!(parse_weekday("Sunday"), Some(Weekday::Sun));
        assert_eq!(parse_weekday(" THU "), Some(Weekday::Thu));
        assert_eq!(parse_weekday("th"), None);
        assert_eq!(parse_weekday("mond"), None);
    }
}
