//! The `[calendar]` section, checked and turned into the domain's business calendar.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use chrono_tz::Tz;

use super::{CalendarConfig, Problem};
use crate::domain::calendar::{BusinessCalendar, parse_clock, parse_weekday};

/// Name given to a closure date configured without one.
const UNNAMED_CLOSURE: &str = "closure";

impl BusinessCalendar {
    /// Builds the calendar, or lists every problem in the section with its key path.
    pub fn from_config(c: &CalendarConfig) -> Result<Self, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut problem = |key: String, reason: String| problems.push(Problem { key, reason });

        let zone = match c.zone.trim().parse::<Tz>() {
            Ok(z) => Some(z),
            Err(_) => {
                problem(
                    "calendar.zone".into(),
                    format!(
                        "`{}` is not an IANA time zone (like America/New_York)",
                        c.zone
                    ),
                );
                None
            }
        };

        let mut business_days = [false; 7];
        for (i, name) in c.business_days.iter().enumerate() {
            match parse_weekday(name) {
                Some(wd) => {
                    let slot = &mut business_days[wd.num_days_from_monday() as usize];
                    if *slot {
                        problem(
                            format!("calendar.business_days[{i}]"),
                            format!("`{name}` is listed twice"),
                        );
                    }
                    *slot = true;
                }
                None => problem(
                    format!("calendar.business_days[{i}]"),
                    format!("`{name}` is not a weekday (use mon, tue, wed, thu, fri, sat, sun)"),
                ),
            }
        }
        if c.business_days.is_empty() {
            problem(
                "calendar.business_days".into(),
                "needs at least one business day".into(),
            );
        }

        let start = parse_clock(&c.business_start, false);
        if start.is_none() {
            problem(
                "calendar.business_start".into(),
                format!("`{}` is not a time of day like 07:00", c.business_start),
            );
        }
        let end = parse_clock(&c.business_end, true);
        if end.is_none() {
            problem(
                "calendar.business_end".into(),
                format!(
                    "`{}` is not a time of day like 20:00 (or 24:00)",
                    c.business_end
                ),
            );
        }
        if let (Some(s), Some(e)) = (start, end)
            && s >= e
        {
            problem(
                "calendar.business_end".into(),
                format!(
                    "business hours end ({}) must be later than they start ({})",
                    c.business_end, c.business_start
                ),
            );
        }

        let mut closures = BTreeMap::new();
        for (i, entry) in c.closures.iter().enumerate() {
            let entry = entry.trim();
            let (date, name) = match entry.split_once(char::is_whitespace) {
                Some((d, n)) => (d, n.trim()),
                None => (entry, ""),
            };
            match NaiveDate::parse_from_str(date, "%Y-%m-%d") {
                Ok(date) => {
                    let name = if name.is_empty() {
                        UNNAMED_CLOSURE
                    } else {
                        name
                    };
                    if closures.insert(date, name.to_string()).is_some() {
                        problem(
                            format!("calendar.closures[{i}]"),
                            format!("{date} is listed twice"),
                        );
                    }
                }
                Err(_) => problem(
                    format!("calendar.closures[{i}]"),
                    format!(
                        "`{entry}` is not a date like `2026-12-24` or `2026-12-24 Christmas Eve`"
                    ),
                ),
            }
        }

        match (zone, start, end) {
            (Some(zone), Some(start), Some(end)) if problems.is_empty() => {
                Ok(BusinessCalendar::new(
                    zone,
                    business_days,
                    start,
                    end,
                    c.us_federal_holidays,
                    closures,
                ))
            }
            _ => Err(problems),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc, Weekday};

    use super::*;
    use crate::domain::calendar::TimeClass;

    fn cfg() -> CalendarConfig {
        CalendarConfig::default()
    }

    fn keys(r: Result<BusinessCalendar, Vec<Problem>>) -> Vec<String> {
        match r {
            Ok(_) => Vec::new(),
            Err(p) => p.into_iter().map(|p| p.key).collect(),
        }
    }

    #[test]
    fn default_config_is_valid() {
        let cal = BusinessCalendar::from_config(&cfg()).unwrap();
        assert_eq!(cal.zone(), chrono_tz::America::New_York);
        assert!(cal.is_business_weekday(Weekday::Fri));
        assert!(!cal.is_business_weekday(Weekday::Sat));
    }

    #[test]
    fn every_problem_is_listed_with_its_key() {
        let c = CalendarConfig {
            zone: "Mars/Olympus_Mons".into(),
            business_days: vec!["mon".into(), "tue".into(), "funday".into(), "mon".into()],
            business_start: "7am".into(),
            business_end: "25:00".into(),
            us_federal_holidays: true,
            closures: vec!["2026-12-24 Christmas Eve".into(), "24/12/2026".into()],
        };
        assert_eq!(
            keys(BusinessCalendar::from_config(&c)),
            vec![
                "calendar.zone",
                "calendar.business_days[2]",
                "calendar.business_days[3]",
                "calendar.business_start",
                "calendar.business_end",
                "calendar.closures[1]",
            ]
        );
    }

    #[test]
    fn start_must_come_before_end() {
        let mut c = cfg();
        c.business_start = "20:00".into();
        c.business_end = "07:00".into();
        assert_eq!(
            keys(BusinessCalendar::from_config(&c)),
            vec!["calendar.business_end"]
        );
        c.business_end = "20:00".into();
        assert_eq!(
            keys(BusinessCalendar::from_config(&c)),
            vec!["calendar.business_end"]
        );
    }

    #[test]
    fn empty_business_days_and_duplicate_closures_are_problems() {
        let mut c = cfg();
        c.business_days.clear();
        c.closures = vec!["2026-12-24".into(), "2026-12-24 Christmas Eve".into()];
        assert_eq!(
            keys(BusinessCalendar::from_config(&c)),
            vec!["calendar.business_days", "calendar.closures[1]"]
        );
    }

    #[test]
    fn closures_are_named_or_called_closure() {
        let mut c = cfg();
        c.closures = vec!["2026-12-24  Christmas Eve ".into(), "2026-08-14".into()];
        let cal = BusinessCalendar::from_config(&c).unwrap();
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(
            cal.holiday_on(d("2026-12-24")).as_deref(),
            Some("Christmas Eve")
        );
        assert_eq!(cal.holiday_on(d("2026-08-14")).as_deref(), Some("closure"));
        assert_eq!(cal.holiday_on(d("2026-08-13")), None);
    }

    #[test]
    fn federal_holidays_can_be_switched_off() {
        let mut c = cfg();
        c.us_federal_holidays = false;
        let cal = BusinessCalendar::from_config(&c).unwrap();
        let xmas = NaiveDate::from_ymd_opt(2026, 12, 25).unwrap();
        assert_eq!(cal.holiday_on(xmas), None);
        let at = "2026-12-25T15:00:00Z".parse().unwrap();
        assert_eq!(cal.classify(at), TimeClass::Business);
    }

    #[test]
    fn instants_from_rfc3339_or_local_wall_time() {
        let cal = BusinessCalendar::from_config(&cfg()).unwrap();
        let want: DateTime<Utc> = "2026-11-24T15:00:00Z".parse().unwrap();
        for text in [
            "2026-11-24T15:00:00Z",
            "2026-11-24T10:00:00-05:00",
            " 2026-11-24 10:00 ",
            "2026-11-24 10:00:00",
            "2026-11-24T10:00",
        ] {
            assert_eq!(cal.parse_instant(text), Ok(want), "{text}");
        }
        let twice = cal.parse_instant("2026-11-01 01:30").unwrap_err();
        assert!(twice.contains("happens twice"), "{twice}");
        assert!(twice.contains("EDT and EST"), "{twice}");
        assert!(twice.contains("2026-11-01T01:30:00-04:00"), "{twice}");
        let gap = cal.parse_instant("2026-03-08 02:30").unwrap_err();
        assert!(gap.contains("does not exist"), "{gap}");
        for bad in ["", "now-ish", "2026-13-01 10:00", "2026-11-24", "10:00"] {
            assert!(cal.parse_instant(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn end_of_day_hours_run_to_midnight() {
        let mut c = cfg();
        c.business_end = "24:00".into();
        let cal = BusinessCalendar::from_config(&c).unwrap();
        // Tuesday 2026-11-24 23:59:59 EST, then Wednesday 00:00:00 EST.
        assert_eq!(
            cal.classify("2026-11-25T04:59:59Z".parse().unwrap()),
            TimeClass::Business
        );
        assert_eq!(
            cal.classify("2026-11-25T05:00:00Z".parse().unwrap()),
            TimeClass::AfterHours
        );
    }
}
