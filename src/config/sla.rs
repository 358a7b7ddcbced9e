//! The `[sla]` section's ack windows, checked and turned into the domain's SLA policy.

use chrono::Duration;

use super::{Problem, SlaConfig, parse_duration};
use crate::domain::sla::SlaPolicy;

/// Longest ack window accepted from config: anything longer is surely a typo.
const MAX_WINDOW_DAYS: i64 = 30;

impl SlaPolicy {
    pub fn from_config(c: &SlaConfig) -> Result<Self, Vec<Problem>> {
        let mut problems = Vec::new();
        let business = window("sla.business_ack", &c.business_ack, &mut problems);
        let after_hours = window("sla.after_hours_ack", &c.after_hours_ack, &mut problems);
        match (business, after_hours) {
            (Some(business), Some(after_hours)) if problems.is_empty() => Ok(SlaPolicy {
                business,
                after_hours,
            }),
            _ => Err(problems),
        }
    }
}

/// A configured window: positive and at most [`MAX_WINDOW_DAYS`].
fn window(key: &str, value: &str, problems: &mut Vec<Problem>) -> Option<Duration> {
    let d = parse_duration(key, value, problems)?;
    let max = Duration::days(MAX_WINDOW_DAYS);
    match Duration::from_std(d) {
        Ok(d) if d > Duration::zero() && d <= max => Some(d),
        _ => {
            problems.push(Problem {
                key: key.to_string(),
                reason: format!(
                    "`{value}` must be longer than zero and at most {MAX_WINDOW_DAYS} days"
                ),
            });
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_matches_default_config() {
        let p = SlaPolicy::from_config(&SlaConfig::default()).unwrap();
        assert_eq!(p, SlaPolicy::default());
    }

    #[test]
    fn bad_windows_are_problems_with_keys() {
        let c = SlaConfig {
            business_ack: "soon".into(),
            after_hours_ack: "0s".into(),
            ack_on_first_reply: true,
            ..SlaConfig::default()
        };
        let keys: Vec<String> = SlaPolicy::from_config(&c)
            .unwrap_err()
            .into_iter()
            .map(|p| p.key)
            .collect();
        assert_eq!(keys, vec!["sla.business_ack", "sla.after_hours_ack"]);
        let c = SlaConfig {
            business_ack: "31days".into(),
            after_hours_ack: "30days".into(),
            ack_on_first_reply: true,
            ..SlaConfig::default()
        };
        let keys: Vec<String> = SlaPolicy::from_config(&c)
            .unwrap_err()
            .into_iter()
            .map(|p| p.key)
            .collect();
        assert_eq!(keys, vec!["sla.business_ack"]);
    }
}
