//! Ack SLA policy (skeleton: the real one lands with its tests).

use chrono::{DateTime, Duration, Utc};

use crate::config::{Problem, SlaConfig, parse_duration};
use crate::domain::calendar::{BusinessCalendar, TimeClass};

#[derive(Debug, Clone, Copy)]
pub struct SlaPolicy {
    pub business: Duration,
    pub after_hours: Duration,
}

#[derive(Debug, Clone)]
pub struct SlaAssessment {
    pub class: TimeClass,
    pub window: Duration,
    pub deadline: DateTime<Utc>,
}

impl SlaPolicy {
    pub fn from_config(c: &SlaConfig) -> Result<Self, Vec<Problem>> {
        let mut problems = Vec::new();
        let b = parse_duration("sla.business_ack", &c.business_ack, &mut problems);
        let a = parse_duration("sla.after_hours_ack", &c.after_hours_ack, &mut problems);
        match (b, a) {
            (Some(b), Some(a)) if problems.is_empty() => Ok(SlaPolicy {
                business: Duration::from_std(b).unwrap_or(Duration::MAX),
                after_hours: Duration::from_std(a).unwrap_or(Duration::MAX),
            }),
            _ => Err(problems),
        }
    }

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
            deadline: started_at + window,
        }
    }
}
