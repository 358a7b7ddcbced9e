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

/// Whether an acknowledgement met its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlaOutcome {
    Met { margin: Duration },
    Breached { by: Duration },
}

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

pub fn human_duration(d: Duration) -> String {
    format!("{}s", d.num_seconds())
}

impl SlaAssessment {
    pub fn to_json(&self, _cal: &BusinessCalendar) -> serde_json::Value {
        serde_json::json!({"class": self.class.as_str()})
    }

    pub fn describe(&self, _cal: &BusinessCalendar, _started_at: DateTime<Utc>) -> String {
        format!("{} {}", self.class.as_str(), human_duration(self.window))
    }
}
