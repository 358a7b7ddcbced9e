//! Business calendar and ack SLA: table tests against hand-written expectations, and property
//! tests against an independent model of the New York clock and the federal holiday rules.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc, Weekday};
use flare::config::{CalendarConfig, SlaConfig};
use flare::domain::calendar::{BusinessCalendar, TimeClass};
use flare::domain::holidays::{federal_holiday_on, us_federal_holidays};
use flare::domain::sla::{SlaPolicy, outcome};
use proptest::prelude::*;
use serde_json::json;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&Utc)
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// A New York wall-clock time on `day` (never one inside a DST gap here).
fn ny(day: NaiveDate, h: u32, m: u32, s: u32) -> DateTime<Utc> {
    chrono_tz::America::New_York
        .from_local_datetime(&day.and_hms_opt(h, m, s).expect("time"))
        .earliest()
        .expect("exists")
        .with_timezone(&Utc)
}

fn default_cal() -> BusinessCalendar {
    BusinessCalendar::from_config(&CalendarConfig::default()).expect("default calendar")
}

fn cal_with(f: impl FnOnce(&mut CalendarConfig)) -> BusinessCalendar {
    let mut c = CalendarConfig::default();
    f(&mut c);
    BusinessCalendar::from_config(&c).expect("calendar")
}

fn policy() -> SlaPolicy {
    SlaPolicy::from_config(&SlaConfig::default()).expect("default policy")
}

fn holiday(name: &str) -> TimeClass {
    TimeClass::Holiday { name: name.into() }
}

use TimeClass::{AfterHours, Business, Weekend};

/// Instants given with their local offset, so each row reads as New York wall time.
fn check_table(cal: &BusinessCalendar, rows: &[(&str, TimeClass)]) {
    for (at, want) in rows {
        assert_eq!(&cal.classify(t(at)), want, "{at}");
    }
}

#[test]
fn business_hour_edges() {
    check_table(
        &default_cal(),
        &[
            // Tuesday 2026-11-24, EST.
            ("2026-11-24T06:59:59-05:00", AfterHours),
            ("2026-11-24T07:00:00-05:00", Business),
            ("2026-11-24T12:00:00-05:00", Business),
            ("2026-11-24T19:59:59-05:00", Business),
            ("2026-11-24T19:59:59.999-05:00", Business),
            ("2026-11-24T20:00:00-05:00", AfterHours),
            ("2026-11-24T23:59:59-05:00", AfterHours),
            ("2026-11-25T00:00:00-05:00", AfterHours),
            // The same edges written in UTC.
            ("2026-11-24T11:59:59Z", AfterHours),
            ("2026-11-24T12:00:00Z", Business),
            ("2026-11-25T00:59:59Z", Business),
            ("2026-11-25T01:00:00Z", AfterHours),
            // Tuesday 2026-06-23, EDT.
            ("2026-06-23T10:59:59Z", AfterHours),
            ("2026-06-23T11:00:00Z", Business),
            ("2026-06-23T23:59:59Z", Business),
            ("2026-06-24T00:00:00Z", AfterHours),
            // Friday evening into the weekend.
            ("2026-11-27T19:59:59-05:00", Business),
            ("2026-11-27T20:00:00-05:00", AfterHours),
            ("2026-11-27T23:59:59-05:00", AfterHours),
            ("2026-11-28T00:00:00-05:00", Weekend),
            ("2026-11-28T12:00:00-05:00", Weekend),
            ("2026-11-29T23:59:59-05:00", Weekend),
            ("2026-11-30T00:00:00-05:00", AfterHours),
            ("2026-11-30T07:00:00-05:00", Business),
        ],
    );
}

#[test]
fn spring_forward_2026() {
    // 2026-03-08: 02:00 EST becomes 03:00 EDT at 07:00 UTC.
    check_table(
        &default_cal(),
        &[
            ("2026-03-06T11:59:59Z", AfterHours), // Fri 06:59:59 EST
            ("2026-03-06T12:00:00Z", Business),   // Fri 07:00 EST
            ("2026-03-07T00:59:59Z", Business),   // Fri 19:59:59 EST
            ("2026-03-07T01:00:00Z", AfterHours), // Fri 20:00 EST
            ("2026-03-08T06:59:59Z", Weekend),    // Sun 01:59:59 EST
            ("2026-03-08T07:00:00Z", Weekend),    // Sun 03:00 EDT
            ("2026-03-09T10:00:00Z", AfterHours), // Mon 06:00 EDT (07:00 if still EST)
            ("2026-03-09T10:59:59Z", AfterHours), // Mon 06:59:59 EDT
            ("2026-03-09T11:00:00Z", Business),   // Mon 07:00 EDT
            ("2026-03-09T12:00:00Z", Business),   // Mon 08:00 EDT
            ("2026-03-09T23:59:59Z", Business),   // Mon 19:59:59 EDT
            ("2026-03-10T00:00:00Z", AfterHours), // Mon 20:00 EDT (19:00 if still EST)
        ],
    );
}

#[test]
fn fall_back_2026() {
    // 2026-11-01: 02:00 EDT becomes 01:00 EST at 06:00 UTC; 01:00-02:00 happens twice.
    check_table(
        &default_cal(),
        &[
            ("2026-10-30T10:59:59Z", AfterHours), // Fri 06:59:59 EDT
            ("2026-10-30T11:00:00Z", Business),   // Fri 07:00 EDT
            ("2026-10-30T23:59:59Z", Business),   // Fri 19:59:59 EDT
            ("2026-10-31T00:00:00Z", AfterHours), // Fri 20:00 EDT
            ("2026-11-01T05:30:00Z", Weekend),    // Sun 01:30 EDT
            ("2026-11-01T06:30:00Z", Weekend),    // Sun 01:30 EST
            ("2026-11-02T11:00:00Z", AfterHours), // Mon 06:00 EST (07:00 if still EDT)
            ("2026-11-02T11:59:59Z", AfterHours), // Mon 06:59:59 EST
            ("2026-11-02T12:00:00Z", Business),   // Mon 07:00 EST
            ("2026-11-03T00:59:59Z", Business),   // Mon 19:59:59 EST
            ("2026-11-03T01:00:00Z", AfterHours), // Mon 20:00 EST
        ],
    );
}

#[test]
fn repeated_hour_is_told_apart_from_utc() {
    // Sunday hours starting inside the repeated hour: the EDT pass and the EST pass of
    // 01:15 and 01:45 are distinct instants with the same wall clock.
    let cal = cal_with(|c| {
        c.business_days = vec!["sun".into()];
        c.business_start = "01:30".into();
        c.business_end = "02:30".into();
    });
    check_table(
        &cal,
        &[
            ("2026-11-01T05:15:00Z", AfterHours), // 01:15 EDT
            ("2026-11-01T05:29:59Z", AfterHours), // 01:29:59 EDT
            ("2026-11-01T05:30:00Z", Business),   // 01:30 EDT
            ("2026-11-01T05:45:00Z", Business),   // 01:45 EDT
            ("2026-11-01T05:59:59Z", Business),   // 01:59:59 EDT
            ("2026-11-01T06:00:00Z", AfterHours), // 01:00 EST, the second pass
            ("2026-11-01T06:15:00Z", AfterHours), // 01:15 EST
            ("2026-11-01T06:30:00Z", Business),   // 01:30 EST
            ("2026-11-01T06:45:00Z", Business),   // 01:45 EST
            ("2026-11-01T07:00:00Z", Business),   // 02:00 EST
            ("2026-11-01T07:29:59Z", Business),   // 02:29:59 EST
            ("2026-11-01T07:30:00Z", AfterHours), // 02:30 EST
        ],
    );
    // The same hours on the spring-forward Sunday: 02:00-03:00 never happens.
    check_table(
        &cal,
        &[
            ("2026-03-08T06:29:59Z", AfterHours), // 01:29:59 EST
            ("2026-03-08T06:30:00Z", Business),   // 01:30 EST
            ("2026-03-08T06:59:59Z", Business),   // 01:59:59 EST
            ("2026-03-08T07:00:00Z", AfterHours), // 03:00 EDT
        ],
    );
}

/// (name, date, observed) for 2021-2030, written out from the published OPM calendars.
const FEDERAL: &[(&str, &str, &str)] = &[
    ("New Year's Day", "2021-01-01", "2021-01-01"),
    ("Martin Luther King Jr. Day", "2021-01-18", "2021-01-18"),
    ("Washington's Birthday", "2021-02-15", "2021-02-15"),
    ("Memorial Day", "2021-05-31", "2021-05-31"),
    (
        "Juneteenth National Independence Day",
        "2021-06-19",
        "2021-06-18",
    ),
    ("Independence Day", "2021-07-04", "2021-07-05"),
    ("Labor Day", "2021-09-06", "2021-09-06"),
    ("Columbus Day", "2021-10-11", "2021-10-11"),
    ("Veterans Day", "2021-11-11", "2021-11-11"),
    ("Thanksgiving Day", "2021-11-25", "2021-11-25"),
    ("Christmas Day", "2021-12-25", "2021-12-24"),
    ("New Year's Day", "2022-01-01", "2021-12-31"),
    ("Martin Luther King Jr. Day", "2022-01-17", "2022-01-17"),
    ("Washington's Birthday", "2022-02-21", "2022-02-21"),
    ("Memorial Day", "2022-05-30", "2022-05-30"),
    (
        "Juneteenth National Independence Day",
        "2022-06-19",
        "2022-06-20",
    ),
    ("Independence Day", "2022-07-04", "2022-07-04"),
    ("Labor Day", "2022-09-05", "2022-09-05"),
    ("Columbus Day", "2022-10-10", "2022-10-10"),
    ("Veterans Day", "2022-11-11", "2022-11-11"),
    ("Thanksgiving Day", "2022-11-24", "2022-11-24"),
    ("Christmas Day", "2022-12-25", "2022-12-26"),
    ("New Year's Day", "2023-01-01", "2023-01-02"),
    ("Martin Luther King Jr. Day", "2023-01-16", "2023-01-16"),
    ("Washington's Birthday", "2023-02-20", "2023-02-20"),
    ("Memorial Day", "2023-05-29", "2023-05-29"),
    (
        "Juneteenth National Independence Day",
        "2023-06-19",
        "2023-06-19",
    ),
    ("Independence Day", "2023-07-04", "2023-07-04"),
    ("Labor Day", "2023-09-04", "2023-09-04"),
    ("Columbus Day", "2023-10-09", "2023-10-09"),
    ("Veterans Day", "2023-11-11", "2023-11-10"),
    ("Thanksgiving Day", "2023-11-23", "2023-11-23"),
    ("Christmas Day", "2023-12-25", "2023-12-25"),
    ("New Year's Day", "2024-01-01", "2024-01-01"),
    ("Martin Luther King Jr. Day", "2024-01-15", "2024-01-15"),
    ("Washington's Birthday", "2024-02-19", "2024-02-19"),
    ("Memorial Day", "2024-05-27", "2024-05-27"),
    (
        "Juneteenth National Independence Day",
        "2024-06-19",
        "2024-06-19",
    ),
    ("Independence Day", "2024-07-04", "2024-07-04"),
    ("Labor Day", "2024-09-02", "2024-09-02"),
    ("Columbus Day", "2024-10-14", "2024-10-14"),
    ("Veterans Day", "2024-11-11", "2024-11-11"),
    ("Thanksgiving Day", "2024-11-28", "2024-11-28"),
    ("Christmas Day", "2024-12-25", "2024-12-25"),
    ("New Year's Day", "2025-01-01", "2025-01-01"),
    ("Martin Luther King Jr. Day", "2025-01-20", "2025-01-20"),
    ("Washington's Birthday", "2025-02-17", "2025-02-17"),
    ("Memorial Day", "2025-05-26", "2025-05-26"),
    (
        "Juneteenth National Independence Day",
        "2025-06-19",
        "2025-06-19",
    ),
    ("Independence Day", "2025-07-04", "2025-07-04"),
    ("Labor Day", "2025-09-01", "2025-09-01"),
    ("Columbus Day", "2025-10-13", "2025-10-13"),
    ("Veterans Day", "2025-11-11", "2025-11-11"),
    ("Thanksgiving Day", "2025-11-27", "2025-11-27"),
    ("Christmas Day", "2025-12-25", "2025-12-25"),
    ("New Year's Day", "2026-01-01", "2026-01-01"),
    ("Martin Luther King Jr. Day", "2026-01-19", "2026-01-19"),
    ("Washington's Birthday", "2026-02-16", "2026-02-16"),
    ("Memorial Day", "2026-05-25", "2026-05-25"),
    (
        "Juneteenth National Independence Day",
        "2026-06-19",
        "2026-06-19",
    ),
    ("Independence Day", "2026-07-04", "2026-07-03"),
    ("Labor Day", "2026-09-07", "2026-09-07"),
    ("Columbus Day", "2026-10-12", "2026-10-12"),
    ("Veterans Day", "2026-11-11", "2026-11-11"),
    ("Thanksgiving Day", "2026-11-26", "2026-11-26"),
    ("Christmas Day", "2026-12-25", "2026-12-25"),
    ("New Year's Day", "2027-01-01", "2027-01-01"),
    ("Martin Luther King Jr. Day", "2027-01-18", "2027-01-18"),
    ("Washington's Birthday", "2027-02-15", "2027-02-15"),
    ("Memorial Day", "2027-05-31", "2027-05-31"),
    (
        "Juneteenth National Independence Day",
        "2027-06-19",
        "2027-06-18",
    ),
    ("Independence Day", "2027-07-04", "2027-07-05"),
    ("Labor Day", "2027-09-06", "2027-09-06"),
    ("Columbus Day", "2027-10-11", "2027-10-11"),
    ("Veterans Day", "2027-11-11", "2027-11-11"),
    ("Thanksgiving Day", "2027-11-25", "2027-11-25"),
    ("Christmas Day", "2027-12-25", "2027-12-24"),
    ("New Year's Day", "2028-01-01", "2027-12-31"),
    ("Martin Luther King Jr. Day", "2028-01-17", "2028-01-17"),
    ("Washington's Birthday", "2028-02-21", "2028-02-21"),
    ("Memorial Day", "2028-05-29", "2028-05-29"),
    (
        "Juneteenth National Independence Day",
        "2028-06-19",
        "2028-06-19",
    ),
    ("Independence Day", "2028-07-04", "2028-07-04"),
    ("Labor Day", "2028-09-04", "2028-09-04"),
    ("Columbus Day", "2028-10-09", "2028-10-09"),
    ("Veterans Day", "2028-11-11", "2028-11-10"),
    ("Thanksgiving Day", "2028-11-23", "2028-11-23"),
    ("Christmas Day", "2028-12-25", "2028-12-25"),
    ("New Year's Day", "2029-01-01", "2029-01-01"),
    ("Martin Luther King Jr. Day", "2029-01-15", "2029-01-15"),
    ("Washington's Birthday", "2029-02-19", "2029-02-19"),
    ("Memorial Day", "2029-05-28", "2029-05-28"),
    (
        "Juneteenth National Independence Day",
        "2029-06-19",
        "2029-06-19",
    ),
    ("Independence Day", "2029-07-04", "2029-07-04"),
    ("Labor Day", "2029-09-03", "2029-09-03"),
    ("Columbus Day", "2029-10-08", "2029-10-08"),
    ("Veterans Day", "2029-11-11", "2029-11-12"),
    ("Thanksgiving Day", "2029-11-22", "2029-11-22"),
    ("Christmas Day", "2029-12-25", "2029-12-25"),
    ("New Year's Day", "2030-01-01", "2030-01-01"),
    ("Martin Luther King Jr. Day", "2030-01-21", "2030-01-21"),
    ("Washington's Birthday", "2030-02-18", "2030-02-18"),
    ("Memorial Day", "2030-05-27", "2030-05-27"),
    (
        "Juneteenth National Independence Day",
        "2030-06-19",
        "2030-06-19",
    ),
    ("Independence Day", "2030-07-04", "2030-07-04"),
    ("Labor Day", "2030-09-02", "2030-09-02"),
    ("Columbus Day", "2030-10-14", "2030-10-14"),
    ("Veterans Day", "2030-11-11", "2030-11-11"),
    ("Thanksgiving Day", "2030-11-28", "2030-11-28"),
    ("Christmas Day", "2030-12-25", "2030-12-25"),
];

#[test]
fn federal_holiday_rules_match_the_published_table() {
    for year in 2021..=2030 {
        let want: Vec<(&str, NaiveDate, NaiveDate)> = FEDERAL
            .iter()
            .filter(|(_, date, _)| d(date).year() == year)
            .map(|(name, date, observed)| (*name, d(date), d(observed)))
            .collect();
        assert_eq!(want.len(), 11, "table for {year}");
        let got: Vec<(&str, NaiveDate, NaiveDate)> = us_federal_holidays(year)
            .into_iter()
            .map(|h| (h.name, h.date, h.observed))
            .collect();
        assert_eq!(got, want, "{year}");
    }
}

#[test]
fn every_holiday_and_observed_day_2021_2030_is_a_holiday_all_day() {
    let cal = default_cal();
    for (name, date, observed) in FEDERAL {
        let (date, observed) = (d(date), d(observed));
        let mut days = vec![(date, name.to_string())];
        if observed != date {
            days.push((observed, format!("{name} (observed)")));
        }
        for (day, want) in days {
            assert_eq!(cal.holiday_on(day).as_deref(), Some(want.as_str()), "{day}");
            // First second, business hours and last second of the local day.
            for (h, m, s) in [(0, 0, 0), (7, 0, 0), (12, 0, 0), (19, 59, 59), (23, 59, 59)] {
                let at = ny(day, h, m, s);
                assert_eq!(cal.classify(at), holiday(&want), "{day} {h}:{m}:{s}");
            }
        }
    }
}

#[test]
fn no_other_day_2021_2030_is_a_holiday() {
    let cal = default_cal();
    let mut closed: Vec<NaiveDate> = FEDERAL
        .iter()
        .flat_map(|(_, date, observed)| [d(date), d(observed)])
        .collect();
    closed.sort();
    closed.dedup();
    let mut day = d("2021-01-01");
    while day <= d("2030-12-31") {
        let want = closed.binary_search(&day).is_ok();
        assert_eq!(cal.holiday_on(day).is_some(), want, "{day}");
        assert_eq!(federal_holiday_on(day).is_some(), want, "{day}");
        day = day.succ_opt().expect("next day");
    }
}

#[test]
fn juneteenth_is_not_a_holiday_before_2021() {
    let cal = default_cal();
    // 2020-06-19 was a Friday.
    assert_eq!(cal.holiday_on(d("2020-06-19")), None);
    assert_eq!(cal.classify(t("2020-06-19T12:00:00-04:00")), Business);
    assert!(
        us_federal_holidays(2020)
            .iter()
            .all(|h| !h.name.contains("Juneteenth"))
    );
    // 2021-06-19 was a Saturday, observed on Friday the 18th.
    assert_eq!(
        cal.classify(t("2021-06-18T12:00:00-04:00")),
        holiday("Juneteenth National Independence Day (observed)")
    );
}

#[test]
fn new_years_day_2022_is_observed_on_new_years_eve_2021() {
    let cal = default_cal();
    assert_eq!(
        cal.holiday_on(d("2021-12-31")).as_deref(),
        Some("New Year's Day (observed)")
    );
    assert_eq!(
        cal.classify(t("2021-12-31T10:00:00-05:00")),
        holiday("New Year's Day (observed)")
    );
    assert_eq!(
        cal.classify(t("2022-01-01T10:00:00-05:00")),
        holiday("New Year's Day")
    );
    // The observed day moves the holiday off the Monday after.
    assert_eq!(cal.classify(t("2022-01-03T10:00:00-05:00")), Business);
    assert_eq!(cal.classify(t("2021-12-30T10:00:00-05:00")), Business);
}

#[test]
fn holiday_wins_over_weekend_and_hours() {
    check_table(
        &default_cal(),
        &[
            ("2026-07-04T12:00:00-04:00", holiday("Independence Day")), // Saturday
            (
                "2026-07-03T03:00:00-04:00",
                holiday("Independence Day (observed)"),
            ),
            ("2026-07-05T12:00:00-04:00", Weekend),
            ("2026-07-06T12:00:00-04:00", Business),
            // Thanksgiving: the date is local, so UTC midnight does not end it.
            ("2026-11-27T04:59:59Z", holiday("Thanksgiving Day")),
            ("2026-11-27T05:00:00Z", AfterHours),
            ("2026-11-27T12:00:00Z", Business),
            ("2026-11-26T04:59:59Z", AfterHours),
            ("2026-11-26T05:00:00Z", holiday("Thanksgiving Day")),
        ],
    );
}

#[test]
fn closures_from_config() {
    let cal = cal_with(|c| {
        c.closures = vec![
            "2026-12-24 Christmas Eve".into(),
            "2026-12-26".into(),
            "2026-12-25 Company holiday".into(),
        ];
    });
    check_table(
        &cal,
        &[
            ("2026-12-24T12:00:00-05:00", holiday("Christmas Eve")),
            ("2026-12-24T00:00:00-05:00", holiday("Christmas Eve")),
            ("2026-12-23T23:59:59-05:00", AfterHours),
            // 03:00 UTC on the 24th is still the 23rd in New York.
            ("2026-12-24T03:00:00Z", AfterHours),
            // An unnamed closure on a Saturday.
            ("2026-12-26T12:00:00-05:00", holiday("closure")),
            // A closure's own name wins over the federal holiday's.
            ("2026-12-25T12:00:00-05:00", holiday("Company holiday")),
            ("2026-12-28T12:00:00-05:00", Business),
        ],
    );
}

#[test]
fn other_business_days_and_zones() {
    // Sunday to Thursday, 09:00-17:30 in Jerusalem, no US holidays.
    let cal = cal_with(|c| {
        c.zone = "Asia/Jerusalem".into();
        c.business_days = ["sun", "mon", "tue", "wed", "thu"]
            .map(String::from)
            .to_vec();
        c.business_start = "09:00".into();
        c.business_end = "17:30".into();
        c.us_federal_holidays = false;
    });
    check_table(
        &cal,
        &[
            ("2026-11-22T09:00:00+02:00", Business), // Sunday
            ("2026-11-22T08:59:59+02:00", AfterHours),
            ("2026-11-22T17:29:59+02:00", Business),
            ("2026-11-22T17:30:00+02:00", AfterHours),
            ("2026-11-27T12:00:00+02:00", Weekend),  // Friday
            ("2026-11-28T12:00:00+02:00", Weekend),  // Saturday
            ("2026-11-26T12:00:00+02:00", Business), // Thanksgiving does not apply
        ],
    );
}

#[test]
fn deadline_across_the_fall_back() {
    let cal = default_cal();
    let p = policy();
    // Sunday 00:30 EDT: an hour later the wall clock reads 01:30 EDT, the first pass.
    let a = p.assess(&cal, t("2026-11-01T00:30:00-04:00"));
    assert_eq!(a.class, Weekend);
    assert_eq!(
        a.to_json(&cal),
        json!({
            "class": "weekend",
            "holiday": null,
            "ack_within_minutes": 60,
            "ack_deadline": "2026-11-01T05:30:00Z",
            "ack_deadline_local": "2026-11-01T01:30:00-04:00",
        })
    );
    // Starting at 01:30 EDT, the deadline is 01:30 again, on the second (EST) pass.
    let a = p.assess(&cal, t("2026-11-01T05:30:00Z"));
    assert_eq!(
        a.to_json(&cal),
        json!({
            "class": "weekend",
            "holiday": null,
            "ack_within_minutes": 60,
            "ack_deadline": "2026-11-01T06:30:00Z",
            "ack_deadline_local": "2026-11-01T01:30:00-05:00",
        })
    );
    assert_eq!(
        a.describe(&cal, t("2026-11-01T05:30:00Z")),
        "Start:    Sun 2026-11-01 01:30:00 EDT (2026-11-01 05:30:00 UTC)\n\
         Class:    weekend\n\
         Window:   ack within 1h\n\
         Deadline: Sun 2026-11-01 01:30:00 EST (2026-11-01 06:30:00 UTC)\n\
         Zone:     America/New_York"
    );
}

#[test]
fn deadline_across_the_spring_forward() {
    let cal = default_cal();
    // Sunday 01:30 EST + 60 minutes = 03:30 EDT: the wall clock skips an hour.
    let a = policy().assess(&cal, t("2026-03-08T06:30:00Z"));
    assert_eq!(
        a.to_json(&cal),
        json!({
            "class": "weekend",
            "holiday": null,
            "ack_within_minutes": 60,
            "ack_deadline": "2026-03-08T07:30:00Z",
            "ack_deadline_local": "2026-03-08T03:30:00-04:00",
        })
    );
}

#[test]
fn json_has_exactly_the_documented_keys() {
    let cal = default_cal();
    let p = policy();
    let business = p.assess(&cal, t("2026-11-24T15:00:00Z")).to_json(&cal);
    assert_eq!(
        business,
        json!({
            "class": "business",
            "holiday": null,
            "ack_within_minutes": 15,
            "ack_deadline": "2026-11-24T15:15:00Z",
            "ack_deadline_local": "2026-11-24T10:15:00-05:00",
        })
    );
    let xmas = p.assess(&cal, t("2026-12-25T15:00:00Z")).to_json(&cal);
    assert_eq!(
        xmas,
        json!({
            "class": "holiday",
            "holiday": "Christmas Day",
            "ack_within_minutes": 60,
            "ack_deadline": "2026-12-25T16:00:00Z",
            "ack_deadline_local": "2026-12-25T11:00:00-05:00",
        })
    );
    let after = p.assess(&cal, t("2026-11-24T02:00:00Z")).to_json(&cal);
    assert_eq!(after["class"], "after_hours");
    for v in [&business, &xmas, &after] {
        let obj = v.as_object().expect("an object");
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "ack_deadline",
                "ack_deadline_local",
                "ack_within_minutes",
                "class",
                "holiday"
            ]
        );
        assert!(obj["ack_within_minutes"].is_i64());
    }
    // Sub-second starts print seconds precision; windows round up to whole minutes.
    let odd = SlaPolicy {
        business: Duration::seconds(90),
        after_hours: Duration::seconds(2),
    };
    let v = odd
        .assess(&cal, t("2026-11-24T15:00:00.750Z"))
        .to_json(&cal);
    assert_eq!(v["ack_within_minutes"], 2);
    assert_eq!(v["ack_deadline"], "2026-11-24T15:01:30Z");
    let v = odd.assess(&cal, t("2026-11-28T15:00:00Z")).to_json(&cal);
    assert_eq!(v["ack_within_minutes"], 1);
    assert_eq!(v["class"], "weekend");
}

#[test]
fn local_deadline_keeps_a_zero_offset_numeric() {
    let cal = cal_with(|c| c.zone = "Europe/London".into());
    let v = policy()
        .assess(&cal, t("2026-11-24T12:00:00Z"))
        .to_json(&cal);
    assert_eq!(v["ack_deadline"], "2026-11-24T12:15:00Z");
    assert_eq!(v["ack_deadline_local"], "2026-11-24T12:15:00+00:00");
}

#[test]
fn describe_names_the_holiday_and_both_clocks() {
    let cal = default_cal();
    let start = t("2026-07-03T09:00:00-04:00");
    let text = policy().assess(&cal, start).describe(&cal, start);
    assert_eq!(
        text,
        "Start:    Fri 2026-07-03 09:00:00 EDT (2026-07-03 13:00:00 UTC)\n\
         Class:    holiday (Independence Day (observed))\n\
         Window:   ack within 1h\n\
         Deadline: Fri 2026-07-03 10:00:00 EDT (2026-07-03 14:00:00 UTC)\n\
         Zone:     America/New_York"
    );
    let start = t("2026-11-24T15:00:00Z");
    let text = policy().assess(&cal, start).describe(&cal, start);
    assert!(text.contains("Class:    business hours\n"), "{text}");
    assert!(text.contains("ack within 15m"), "{text}");
}

#[test]
fn ack_outcomes() {
    let dl = t("2026-11-24T15:15:00Z");
    assert!(outcome(dl, dl).is_met());
    assert!(outcome(dl, t("2026-11-24T15:00:00Z")).is_met());
    assert!(!outcome(dl, t("2026-11-24T15:15:00.001Z")).is_met());
    assert_eq!(
        outcome(dl, t("2026-11-24T15:19:30Z")).describe(),
        "SLA breached by 4m 30s"
    );
}

#[test]
fn next_business_start_skips_nights_weekends_and_holidays() {
    let cal = default_cal();
    let rows = [
        // Already in business hours: that very instant.
        ("2026-11-24T15:00:00Z", "2026-11-24T15:00:00Z"),
        ("2026-11-24T07:00:00-05:00", "2026-11-24T07:00:00-05:00"),
        // Early morning and evening.
        ("2026-11-24T06:59:59-05:00", "2026-11-24T07:00:00-05:00"),
        ("2026-11-24T20:00:00-05:00", "2026-11-25T07:00:00-05:00"),
        // Friday evening to Monday.
        ("2026-11-20T20:00:00-05:00", "2026-11-23T07:00:00-05:00"),
        // Over Thanksgiving.
        ("2026-11-25T20:30:00-05:00", "2026-11-27T07:00:00-05:00"),
        // Over the observed Independence Day and the weekend.
        ("2026-07-02T21:00:00-04:00", "2026-07-06T07:00:00-04:00"),
        // New Year's Eve 2021 is closed for 2022's holiday.
        ("2021-12-30T20:00:00-05:00", "2022-01-03T07:00:00-05:00"),
        // Over the spring-forward weekend: Monday 07:00 is EDT.
        ("2026-03-07T12:00:00-05:00", "2026-03-09T07:00:00-04:00"),
        // Over the fall-back weekend: Monday 07:00 is EST.
        ("2026-10-31T12:00:00-04:00", "2026-11-02T07:00:00-05:00"),
    ];
    for (from, want) in rows {
        let got = cal.next_business_start(t(from));
        assert_eq!(got, t(want), "from {from}");
        assert_eq!(cal.classify(got), Business, "from {from}");
    }
}

#[test]
fn next_business_start_in_a_dst_gap_or_repeated_hour() {
    // Sunday hours from 02:30: on 2026-03-08 that wall time never happens, so business
    // starts when the clocks jump to 03:00 EDT.
    let gap = cal_with(|c| {
        c.business_days = vec!["sun".into()];
        c.business_start = "02:30".into();
        c.us_federal_holidays = false;
    });
    assert_eq!(
        gap.next_business_start(t("2026-03-08T00:00:00-05:00")),
        t("2026-03-08T03:00:00-04:00")
    );
    assert_eq!(
        gap.next_business_start(t("2026-03-08T01:59:59-05:00")),
        t("2026-03-08T03:00:00-04:00")
    );
    assert_eq!(gap.classify(t("2026-03-08T03:00:00-04:00")), Business);
    // A week later the same hours start at 02:30 EDT again.
    assert_eq!(
        gap.next_business_start(t("2026-03-09T00:00:00-04:00")),
        t("2026-03-15T02:30:00-04:00")
    );

    // Sunday hours from 01:30 on the fall-back day: 01:30 happens twice.
    let twice = cal_with(|c| {
        c.business_days = vec!["sun".into()];
        c.business_start = "01:30".into();
        c.business_end = "01:45".into();
        c.us_federal_holidays = false;
    });
    // Before the first pass: 01:30 EDT.
    assert_eq!(
        twice.next_business_start(t("2026-11-01T00:00:00-04:00")),
        t("2026-11-01T01:30:00-04:00")
    );
    // After the first pass's hours: 01:30 EST, an hour later.
    assert_eq!(
        twice.next_business_start(t("2026-11-01T01:50:00-04:00")),
        t("2026-11-01T01:30:00-05:00")
    );
    assert_eq!(
        twice.next_business_start(t("2026-11-01T01:10:00-05:00")),
        t("2026-11-01T01:30:00-05:00")
    );
    // After the second pass: next Sunday.
    assert_eq!(
        twice.next_business_start(t("2026-11-01T01:45:00-05:00")),
        t("2026-11-08T01:30:00-05:00")
    );

    // Hours ending inside the repeated hour: after they end on the EDT pass, the clocks fall
    // back into them at 02:00 EDT = 01:00 EST.
    let back = cal_with(|c| {
        c.business_days = vec!["sun".into()];
        c.business_start = "00:30".into();
        c.business_end = "01:30".into();
        c.us_federal_holidays = false;
    });
    assert_eq!(back.classify(t("2026-11-01T01:40:00-04:00")), AfterHours);
    assert_eq!(
        back.next_business_start(t("2026-11-01T01:40:00-04:00")),
        t("2026-11-01T01:00:00-05:00")
    );
    assert_eq!(
        back.next_business_start(t("2026-11-01T01:30:00-05:00")),
        t("2026-11-08T00:30:00-05:00")
    );
}

// ---------------------------------------------------------------------------------------------
// Property tests against an independent model: the US Eastern DST rules written out by hand,
// and the federal holiday rules computed by counting weekdays day by day.

/// US Eastern offset in hours at a UTC instant (Energy Policy Act rules from 2007, the
/// April-October rules before).
fn eastern_offset_hours(at: DateTime<Utc>) -> i64 {
    let year = at.year();
    let sundays = |month: u32| -> Vec<u32> {
        (1..=31)
            .filter(|&day| {
                NaiveDate::from_ymd_opt(year, month, day)
                    .is_some_and(|d| d.weekday() == Weekday::Sun)
            })
            .collect()
    };
    // Both changes happen at 02:00 local: 07:00 UTC in spring (EST), 06:00 UTC in autumn (EDT).
    let (start, end) = if year >= 2007 {
        ((3, sundays(3)[1]), (11, sundays(11)[0]))
    } else {
        let oct = sundays(10);
        ((4, sundays(4)[0]), (10, oct[oct.len() - 1]))
    };
    let start = Utc
        .with_ymd_and_hms(year, start.0, start.1, 7, 0, 0)
        .single()
        .expect("dst start");
    let end = Utc
        .with_ymd_and_hms(year, end.0, end.1, 6, 0, 0)
        .single()
        .expect("dst end");
    if at >= start && at < end { -4 } else { -5 }
}

/// The local dates (own and observed) of the federal holidays around `year`, with names.
fn model_holidays(year: i32) -> Vec<(NaiveDate, String)> {
    let weekdays_in = |y: i32, month: u32, wd: Weekday| -> Vec<NaiveDate> {
        (1..=31)
            .filter_map(|day| NaiveDate::from_ymd_opt(y, month, day))
            .filter(|d| d.weekday() == wd)
            .collect()
    };
    let mut out = Vec::new();
    for y in [year - 1, year, year + 1] {
        let fixed = |m, day| NaiveDate::from_ymd_opt(y, m, day).expect("date");
        let mon = |m| weekdays_in(y, m, Weekday::Mon);
        let mut list = vec![
            ("New Year's Day", fixed(1, 1)),
            ("Martin Luther King Jr. Day", mon(1)[2]),
            ("Washington's Birthday", mon(2)[2]),
            ("Memorial Day", *mon(5).last().expect("a Monday")),
            ("Independence Day", fixed(7, 4)),
            ("Labor Day", mon(9)[0]),
            ("Columbus Day", mon(10)[1]),
            ("Veterans Day", fixed(11, 11)),
            ("Thanksgiving Day", weekdays_in(y, 11, Weekday::Thu)[3]),
            ("Christmas Day", fixed(12, 25)),
        ];
        if y >= 2021 {
            list.push(("Juneteenth National Independence Day", fixed(6, 19)));
        }
        for (name, date) in list {
            out.push((date, name.to_string()));
            let shift = match date.weekday() {
                Weekday::Sat => -1,
                Weekday::Sun => 1,
                _ => 0,
            };
            if shift != 0 {
                out.push((date + Duration::days(shift), format!("{name} (observed)")));
            }
        }
    }
    out
}

fn model_class(at: DateTime<Utc>) -> TimeClass {
    let local = (at + Duration::hours(eastern_offset_hours(at))).naive_utc();
    let date = local.date();
    if let Some((_, name)) = model_holidays(date.year())
        .into_iter()
        .find(|(d, _)| *d == date)
    {
        return TimeClass::Holiday { name };
    }
    if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
        return Weekend;
    }
    if (7..20).contains(&local.hour()) {
        Business
    } else {
        AfterHours
    }
}

/// Any instant from 2000 to 2099, with milliseconds. chrono-tz's tables end with the
/// November 2099 transition (chronotope/chrono-tz#155), so New York has no DST in 2100 there.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let from = t("2000-01-01T00:00:00Z").timestamp_millis();
    let to = t("2100-01-01T00:00:00Z").timestamp_millis();
    (from..to).prop_map(|ms| DateTime::from_timestamp_millis(ms).expect("in range"))
}

/// Instants within three minutes of a UTC hour where New York opens or closes (EST or EDT)
/// or changes its clocks.
fn edge_instant() -> impl Strategy<Value = DateTime<Utc>> {
    (2000i32..2100, 1u32..13, 1u32..29, 0usize..6, -180i64..180).prop_map(
        |(y, m, day, which, secs)| {
            let (h, min) = [(0, 0), (1, 0), (6, 0), (7, 0), (11, 0), (12, 0)][which];
            Utc.with_ymd_and_hms(y, m, day, h, min, 0)
                .single()
                .expect("valid")
                + Duration::seconds(secs)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn deadline_minus_start_is_the_window(at in instant()) {
        let cal = default_cal();
        let a = policy().assess(&cal, at);
        prop_assert_eq!(a.deadline - at, a.window);
        let want = if a.class.is_business() { 15 } else { 60 };
        prop_assert_eq!(a.window, Duration::minutes(want));
    }

    #[test]
    fn class_agrees_with_the_model(at in instant()) {
        prop_assert_eq!(default_cal().classify(at), model_class(at), "{}", at);
    }

    #[test]
    fn class_agrees_with_the_model_near_edges(at in edge_instant()) {
        prop_assert_eq!(default_cal().classify(at), model_class(at), "{}", at);
    }

    #[test]
    fn json_matches_the_window_and_the_model_offset(at in instant()) {
        let cal = default_cal();
        let a = policy().assess(&cal, at);
        let v = a.to_json(&cal);
        let minutes = if a.class.is_business() { 15 } else { 60 };
        prop_assert_eq!(&v["ack_within_minutes"], &json!(minutes));
        prop_assert_eq!(&v["class"], &json!(model_class(at).as_str()));
        let deadline = t(v["ack_deadline"].as_str().expect("string"));
        let local = DateTime::parse_from_rfc3339(v["ack_deadline_local"].as_str().expect("string"))
            .expect("rfc3339");
        // Seconds precision: the printed deadline is the real one without its fraction.
        prop_assert_eq!(deadline.timestamp(), a.deadline.timestamp());
        prop_assert_eq!(local.timestamp(), a.deadline.timestamp());
        prop_assert_eq!(
            i64::from(local.offset().local_minus_utc()),
            eastern_offset_hours(a.deadline) * 3600
        );
    }

    #[test]
    fn next_business_start_is_the_first_business_instant(at in instant()) {
        let cal = default_cal();
        let next = cal.next_business_start(at);
        prop_assert!(next >= at);
        prop_assert_eq!(cal.classify(next), Business);
        if next > at {
            prop_assert_ne!(cal.classify(next - Duration::seconds(1)), Business);
            // Business hours last 13 hours, so a 15-minute scan cannot step over them.
            let mut probe = at;
            while probe < next {
                prop_assert_ne!(cal.classify(probe), Business, "{} before {}", probe, next);
                probe += Duration::minutes(15);
            }
        }
    }
}

/// Zones whose clocks change at midnight, by half an hour, or skipped a whole day.
const ZONES: &[&str] = &[
    "America/New_York",
    "America/Santiago",
    "America/Havana",
    "Asia/Beirut",
    "Australia/Lord_Howe",
    "Europe/London",
    "Pacific/Apia",
    "Asia/Kolkata",
];

/// A calendar in one of [`ZONES`], with some business days and at least an hour of
/// business a day, starting on any minute.
fn any_calendar() -> impl Strategy<Value = (CalendarConfig, BusinessCalendar)> {
    (
        prop::sample::select(ZONES),
        1u8..128,
        0u32..(23 * 60),
        60u32..(24 * 60),
        any::<bool>(),
    )
        .prop_map(|(zone, days, start, len, federal)| {
            let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
            let end = (start + len).min(24 * 60);
            let clock = |m: u32| format!("{:02}:{:02}", m / 60, m % 60);
            let c = CalendarConfig {
                zone: zone.into(),
                business_days: (0..7)
                    .filter(|i| days & (1 << i) != 0)
                    .map(|i| names[i].to_string())
                    .collect(),
                business_start: clock(start),
                business_end: clock(end),
                us_federal_holidays: federal,
                closures: vec!["2011-12-29 Last Thursday of Apia's 2011".into()],
            };
            let cal = BusinessCalendar::from_config(&c).expect("valid calendar");
            (c, cal)
        })
}

/// Straight from the config, on the wall clock chrono-tz gives.
fn expected_class(c: &CalendarConfig, at: DateTime<Utc>) -> TimeClass {
    let zone: chrono_tz::Tz = c.zone.parse().expect("zone");
    let local = at.with_timezone(&zone).naive_local();
    let date = local.date();
    if let Some(name) = c
        .closures
        .iter()
        .find_map(|s| s.strip_prefix(&date.format("%Y-%m-%d ").to_string()))
    {
        return holiday(name);
    }
    if c.us_federal_holidays
        && let Some(name) = federal_holiday_on(date)
    {
        return holiday(&name);
    }
    let day = date.format("%a").to_string().to_lowercase();
    if !c.business_days.contains(&day) {
        return Weekend;
    }
    let hm = local.format("%H:%M").to_string();
    // Zero-padded HH:MM compares like the time it names; "24:00" sorts after every time.
    if hm >= c.business_start && hm < c.business_end {
        Business
    } else {
        AfterHours
    }
}

fn instant_2005_2030() -> impl Strategy<Value = DateTime<Utc>> {
    let from = t("2005-01-01T00:00:00Z").timestamp();
    let to = t("2031-01-01T00:00:00Z").timestamp();
    (from..to).prop_map(|s| DateTime::from_timestamp(s, 0).expect("in range"))
}

/// The offset changes of a zone in a year, found by a daily scan and bisection (the test's
/// own search, not the calendar's).
fn offset_changes(zone: chrono_tz::Tz, year: i32) -> Vec<DateTime<Utc>> {
    use chrono::Offset;
    let offset = |s: i64| {
        zone.offset_from_utc_datetime(
            &DateTime::from_timestamp(s, 0)
                .expect("in range")
                .naive_utc(),
        )
        .fix()
    };
    let start = Utc
        .with_ymd_and_hms(year, 1, 1, 0, 0, 0)
        .single()
        .expect("new year")
        .timestamp();
    let mut out = Vec::new();
    for day in 0..366 {
        let (mut lo, mut hi) = (start + day * 86_400, start + (day + 1) * 86_400);
        if offset(lo) == offset(hi) {
            continue;
        }
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if offset(mid) == offset(lo) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        out.push(DateTime::from_timestamp(hi, 0).expect("in range"));
    }
    out
}

/// A calendar with an instant within a day and a half of one of its zone's offset changes
/// (or anywhere, for zones without one that year).
fn calendar_near_a_change()
-> impl Strategy<Value = ((CalendarConfig, BusinessCalendar), DateTime<Utc>)> {
    (
        any_calendar(),
        2005i32..2031,
        any::<prop::sample::Index>(),
        -(36 * 3600i64)..(36 * 3600),
        instant_2005_2030(),
    )
        .prop_map(|((c, cal), year, pick, secs, fallback)| {
            let changes = offset_changes(cal.zone(), year);
            let at = if changes.is_empty() {
                fallback
            } else {
                *pick.get(&changes) + Duration::seconds(secs)
            };
            ((c, cal), at)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn any_calendar_classifies_by_its_config((c, cal) in any_calendar(), at in instant_2005_2030()) {
        prop_assert_eq!(cal.classify(at), expected_class(&c, at), "{} in {}", at, c.zone);
    }

    #[test]
    fn any_calendar_classifies_by_its_config_near_clock_changes(
        ((c, cal), at) in calendar_near_a_change(),
    ) {
        prop_assert_eq!(cal.classify(at), expected_class(&c, at), "{} in {}", at, c.zone);
    }

    #[test]
    fn any_calendar_finds_the_next_business_instant(
        ((c, cal), at) in calendar_near_a_change(),
    ) {
        let next = cal.next_business_start(at);
        prop_assert!(next >= at);
        prop_assert_eq!(cal.classify(next), Business, "{} -> {} in {}", at, next, c.zone);
        if next > at {
            prop_assert_ne!(cal.classify(next - Duration::seconds(1)), Business);
            // Sound, not complete: a stretch shorter than the step could hide between probes.
            let mut probe = at;
            while probe < next {
                prop_assert_ne!(cal.classify(probe), Business, "{} before {}", probe, next);
                probe += Duration::minutes(5);
            }
        }
    }
}

#[test]
fn next_business_start_over_the_day_samoa_skipped() {
    // Pacific/Apia went from Thursday 2011-12-29 23:59:59 (-10:00) straight to Saturday
    // 2011-12-31 00:00 (+14:00): Friday the 30th never happened there.
    let cal = cal_with(|c| {
        c.zone = "Pacific/Apia".into();
        c.business_days = vec!["fri".into(), "sat".into()];
        c.business_start = "00:00".into();
        c.us_federal_holidays = false;
    });
    let from = t("2011-12-29T12:00:00-10:00");
    let next = cal.next_business_start(from);
    assert_eq!(next, t("2011-12-31T00:00:00+14:00"));
    assert_eq!(cal.classify(next), Business);
}
