//! Business calendar (skeleton: the real one lands with its tests).

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::config::{CalendarConfig, Problem};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum TimeClass {
    Business,
    AfterHours,
    Weekend,
    Holiday { name: String },
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
}

#[derive(Debug, Clone)]
pub struct BusinessCalendar {
    zone: Tz,
}

impl BusinessCalendar {
    pub fn from_config(c: &CalendarConfig) -> Result<Self, Vec<Problem>> {
        let zone: Tz = c.zone.parse().map_err(|_| {
            vec![Problem {
                key: "calendar.zone".into(),
                reason: format!("`{}` is not an IANA time zone", c.zone),
            }]
        })?;
        Ok(BusinessCalendar { zone })
    }

    pub fn zone(&self) -> Tz {
        self.zone
    }

    pub fn classify(&self, _at: DateTime<Utc>) -> TimeClass {
        TimeClass::Business
    }

    pub fn holiday_on(&self, _date: NaiveDate) -> Option<String> {
        None
    }
}
