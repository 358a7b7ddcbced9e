//! US federal holidays, computed by rule (5 U.S.C. 6103) rather than from a table, so the
//! calendar never runs out of years.
//!
//! The current rules are applied to every year, except Juneteenth, which exists from 2021.
//! A holiday on a Saturday is observed on the Friday before, one on a Sunday on the Monday
//! after; New Year's Day on a Saturday is therefore observed on December 31 of the year before.

use chrono::{Datelike, Days, NaiveDate, Weekday};

/// One federal holiday of a year: its own date and the weekday it is observed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holiday {
    pub name: &'static str,
    pub date: NaiveDate,
    pub observed: NaiveDate,
}

/// The first year Juneteenth National Independence Day was a federal holiday.
const JUNETEENTH_FROM: i32 = 2021;

/// The federal holidays of `year`, in date order. The observed day of New Year's Day may fall
/// in the previous year. Empty for years chrono cannot represent.
pub fn us_federal_holidays(year: i32) -> Vec<Holiday> {
    let ymd = |month, day| NaiveDate::from_ymd_opt(year, month, day);
    let rules = [
        ("New Year's Day", ymd(1, 1)),
        ("Martin Luther King Jr. Day", nth(year, 1, Weekday::Mon, 3)),
        ("Washington's Birthday", nth(year, 2, Weekday::Mon, 3)),
        ("Memorial Day", last(year, 5, Weekday::Mon)),
        (
            "Juneteenth National Independence Day",
            ymd(6, 19).filter(|_| year >= JUNETEENTH_FROM),
        ),
        ("Independence Day", ymd(7, 4)),
        ("Labor Day", nth(year, 9, Weekday::Mon, 1)),
        ("Columbus Day", nth(year, 10, Weekday::Mon, 2)),
        ("Veterans Day", ymd(11, 11)),
        ("Thanksgiving Day", nth(year, 11, Weekday::Thu, 4)),
        ("Christmas Day", ymd(12, 25)),
    ];
    rules
        .into_iter()
        .filter_map(|(name, date)| {
            date.map(|date| Holiday {
                name,
                date,
                observed: observed_day(date),
            })
        })
        .collect()
}

/// The federal holiday falling on `date`, either its own date (even on a weekend) or the
/// weekday it is observed on (named `"... (observed)"`).
pub fn federal_holiday_on(date: NaiveDate) -> Option<String> {
    let year = date.year();
    // Next year's New Year's Day may be observed on December 31 of this one.
    let candidates = us_federal_holidays(year)
        .into_iter()
        .chain(if date.month() == 12 {
            us_federal_holidays(year.saturating_add(1))
        } else {
            Vec::new()
        });
    let mut observed = None;
    for h in candidates {
        if h.date == date {
            return Some(h.name.to_string());
        }
        if h.observed == date && observed.is_none() {
            observed = Some(format!("{} (observed)", h.name));
        }
    }
    observed
}

/// Saturday -> the Friday before, Sunday -> the Monday after.
fn observed_day(date: NaiveDate) -> NaiveDate {
    match date.weekday() {
        Weekday::Sat => date.checked_sub_days(Days::new(1)).unwrap_or(date),
        Weekday::Sun => date.checked_add_days(Days::new(1)).unwrap_or(date),
        _ => date,
    }
}

/// The `n`th `weekday` of a month (1-based).
fn nth(year: i32, month: u32, weekday: Weekday, n: u8) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n)
}

/// The last `weekday` of a month.
fn last(year: i32, month: u32, weekday: Weekday) -> Option<NaiveDate> {
    nth(year, month, weekday, 5).or_else(|| nth(year, month, weekday, 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn eleven_holidays_from_2021_ten_before() {
        assert_eq!(us_federal_holidays(2020).len(), 10);
        assert_eq!(us_federal_holidays(2021).len(), 11);
        assert!(
            us_federal_holidays(2020)
                .iter()
                .all(|h| !h.name.starts_with("Juneteenth"))
        );
    }

    #[test]
    fn holidays_are_in_date_order() {
        for year in 1990..2110 {
            let list = us_federal_holidays(year);
            assert!(list.windows(2).all(|w| w[0].date < w[1].date), "{year}");
        }
    }

    #[test]
    fn observed_days_are_weekdays_next_to_the_date() {
        for year in 1990..2110 {
            for h in us_federal_holidays(year) {
                let wd = h.observed.weekday();
                assert!(wd != Weekday::Sat && wd != Weekday::Sun, "{h:?}");
                let gap = (h.observed - h.date).num_days();
                match h.date.weekday() {
                    Weekday::Sat => assert_eq!(gap, -1, "{h:?}"),
                    Weekday::Sun => assert_eq!(gap, 1, "{h:?}"),
                    _ => assert_eq!(gap, 0, "{h:?}"),
                }
            }
        }
    }

    #[test]
    fn lookup_names_actual_and_observed_days() {
        // 2026-07-04 is a Saturday.
        assert_eq!(
            federal_holiday_on(d("2026-07-04")).as_deref(),
            Some("Independence Day")
        );
        assert_eq!(
            federal_holiday_on(d("2026-07-03")).as_deref(),
            Some("Independence Day (observed)")
        );
        assert_eq!(federal_holiday_on(d("2026-07-02")), None);
        // 2022-01-01 is a Saturday: observed on the last day of 2021.
        assert_eq!(
            federal_holiday_on(d("2021-12-31")).as_deref(),
            Some("New Year's Day (observed)")
        );
        assert_eq!(
            federal_holiday_on(d("2022-01-01")).as_deref(),
            Some("New Year's Day")
        );
        assert_eq!(federal_holiday_on(d("2022-01-03")), None);
        assert_eq!(federal_holiday_on(d("2020-06-19")), None);
    }

    #[test]
    fn extreme_years_do_not_panic() {
        let _ = us_federal_holidays(i32::MAX);
        let _ = us_federal_holidays(i32::MIN);
        let _ = federal_holiday_on(NaiveDate::MAX);
        let _ = federal_holiday_on(NaiveDate::MIN);
    }
}
