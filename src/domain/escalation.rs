//! Escalation paths: what happens, step by step, once an ack SLA is breached.

use chrono::Duration;

use super::incident::Severity;

/// How a step reaches people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A mention in every incident thread (a direct message where the platform has one is
    /// not available yet and is recorded as such).
    Chat,
    /// E-mail; the transport arrives later, so the step is recorded as pending transport.
    Email,
    /// An HTTP webhook; recorded as pending transport for now, like e-mail.
    Webhook,
}

impl Via {
    pub fn parse(s: &str) -> Option<Via> {
        match s.trim().to_ascii_lowercase().as_str() {
            "chat" | "" => Some(Via::Chat),
            "email" | "e-mail" => Some(Via::Email),
            "webhook" => Some(Via::Webhook),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Via::Chat => "chat",
            Via::Email => "email",
            Via::Webhook => "webhook",
        }
    }
}

/// Who a step notifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Whoever is on call now in the path's rotation.
    OnCall,
    /// The person after them in the rotation.
    Secondary,
    /// The incident commander, when one is named.
    Commander,
    Person(String),
}

impl Target {
    pub fn parse(s: &str) -> Target {
        match s.trim().to_ascii_lowercase().as_str() {
            "oncall" | "on-call" | "primary" => Target::OnCall,
            "secondary" => Target::Secondary,
            "commander" => Target::Commander,
            _ => Target::Person(s.trim().trim_start_matches('@').to_string()),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Target::OnCall => "on-call".into(),
            Target::Secondary => "secondary".into(),
            Target::Commander => "commander".into(),
            Target::Person(p) => p.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Delay after the breach.
    pub after: Duration,
    pub notify: Vec<Target>,
    pub via: Via,
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// Empty: every severity without a path of its own.
    pub severities: Vec<Severity>,
    /// The rotation `oncall`/`secondary` refer to (default: the first rotation).
    pub rotation: Option<String>,
    /// In firing order (sorted by delay).
    pub steps: Vec<Step>,
}

/// The paths, chosen by severity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Escalation {
    pub paths: Vec<Path>,
}

impl Escalation {
    /// The path for a severity: one naming it, else one naming none.
    pub fn path_for(&self, sev: Severity) -> Option<&Path> {
        self.paths
            .iter()
            .find(|p| p.severities.contains(&sev))
            .or_else(|| self.paths.iter().find(|p| p.severities.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_picks_the_path() {
        let step = Step {
            after: Duration::zero(),
            notify: vec![Target::OnCall],
            via: Via::Chat,
            url: None,
        };
        let e = Escalation {
            paths: vec![
                Path {
                    severities: vec![],
                    rotation: None,
                    steps: vec![step.clone()],
                },
                Path {
                    severities: vec![Severity::Sev1],
                    rotation: None,
                    steps: vec![step.clone(), step],
                },
            ],
        };
        assert_eq!(e.path_for(Severity::Sev1).map(|p| p.steps.len()), Some(2));
        assert_eq!(e.path_for(Severity::Sev3).map(|p| p.steps.len()), Some(1));
        assert_eq!(Target::parse("@bob"), Target::Person("bob".into()));
        assert_eq!(Target::parse("Secondary"), Target::Secondary);
    }
}
