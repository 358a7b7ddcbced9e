//! The public status page's model: what the public sees of incidents, in the vocabulary of
//! the Statuspage v2 API (component and incident statuses, the page's indicator). Pure: the
//! HTTP side (`src/status/`) only serialises what this decides.
//!
//! Public versus internal: only published incidents appear, and of their timeline only the
//! status updates (and the status changes); chat conversation never does.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::incident::{Incident, Severity, Status, TimelineEvent};
use super::timeline::TimelineKind;

/// A component's state, as Statuspage names it. Ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ComponentStatus {
    Operational,
    UnderMaintenance,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
}

impl ComponentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentStatus::Operational => "operational",
            ComponentStatus::UnderMaintenance => "under_maintenance",
            ComponentStatus::DegradedPerformance => "degraded_performance",
            ComponentStatus::PartialOutage => "partial_outage",
            ComponentStatus::MajorOutage => "major_outage",
        }
    }

    /// The state an open incident of `severity` puts its components in. SEV4 is "low": the
    /// component still works as users expect, so it stays operational (the incident itself
    /// is still listed).
    pub fn for_severity(severity: Severity) -> ComponentStatus {
        match severity {
            Severity::Sev1 => ComponentStatus::MajorOutage,
            Severity::Sev2 => ComponentStatus::PartialOutage,
            Severity::Sev3 => ComponentStatus::DegradedPerformance,
            Severity::Sev4 => ComponentStatus::Operational,
        }
    }
}

/// The page's overall indicator (`status.indicator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Indicator {
    None,
    Minor,
    Major,
    Critical,
}

impl Indicator {
    pub fn as_str(self) -> &'static str {
        match self {
            Indicator::None => "none",
            Indicator::Minor => "minor",
            Indicator::Major => "major",
            Indicator::Critical => "critical",
        }
    }

    /// `status.description`, in Statuspage's words.
    pub fn description(self) -> &'static str {
        match self {
            Indicator::None => "All Systems Operational",
            Indicator::Minor => "Minor Service Outage",
            Indicator::Major => "Partial System Outage",
            Indicator::Critical => "Major System Outage",
        }
    }

    /// An incident's `impact` (the same words): SEV1 critical, SEV2 major, SEV3 and SEV4
    /// minor.
    pub fn for_severity(severity: Severity) -> Indicator {
        match severity {
            Severity::Sev1 => Indicator::Critical,
            Severity::Sev2 => Indicator::Major,
            Severity::Sev3 | Severity::Sev4 => Indicator::Minor,
        }
    }
}

/// Flare's status in Statuspage's words. They share names, by design; `postmortem` has no
/// Flare counterpart and is never produced.
pub fn incident_status(status: Status) -> &'static str {
    status.as_str()
}

/// Which incidents are published when they are opened (`[status_page] publish`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishPolicy {
    pub severities: BTreeSet<Severity>,
}

impl Default for PublishPolicy {
    fn default() -> Self {
        PublishPolicy {
            severities: [Severity::Sev1, Severity::Sev2].into_iter().collect(),
        }
    }
}

impl PublishPolicy {
    pub fn publishes(&self, severity: Severity) -> bool {
        self.severities.contains(&severity)
    }
}

/// Why `publish`/`unpublish` changed nothing; the text is the chat reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    #[error("{0} is already on the status page")]
    AlreadyPublished(super::incident::IncidentId),
    #[error("{0} is not on the status page")]
    NotPublished(super::incident::IncidentId),
}

/// Sets whether `inc` is on the public page.
pub fn set_published(inc: &mut Incident, published: bool) -> Result<(), PublishError> {
    match (inc.published, published) {
        (true, true) => Err(PublishError::AlreadyPublished(inc.id)),
        (false, false) => Err(PublishError::NotPublished(inc.id)),
        _ => {
            inc.published = published;
            Ok(())
        }
    }
}

/// A component of the page (`[[component]]`): the incident `apps` names that map to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// A stable id for the API, derived from the name.
    pub id: String,
    pub name: String,
    pub description: String,
    /// Lower-cased application names; the component's own name always counts.
    pub apps: Vec<String>,
    pub position: usize,
}

impl Component {
    pub fn new(position: usize, name: &str, description: &str, apps: &[String]) -> Component {
        let mut names: Vec<String> = apps.iter().map(|a| a.trim().to_lowercase()).collect();
        names.push(name.trim().to_lowercase());
        names.retain(|a| !a.is_empty());
        names.sort();
        names.dedup();
        Component {
            id: slug(name),
            name: name.trim().to_string(),
            description: description.trim().to_string(),
            apps: names,
            position,
        }
    }

    /// Whether the incident affects this component (through its `apps`).
    pub fn affected_by(&self, inc: &Incident) -> bool {
        inc.impacted_apps
            .iter()
            .any(|a| self.apps.contains(&a.trim().to_lowercase()))
    }

    /// The worst state the open published incidents put it in.
    pub fn status(&self, incidents: &[Incident]) -> ComponentStatus {
        incidents
            .iter()
            .filter(|i| i.published && i.status.is_open() && self.affected_by(i))
            .map(|i| ComponentStatus::for_severity(i.severity))
            .max()
            .unwrap_or(ComponentStatus::Operational)
    }
}

/// Lower-case ASCII letters and digits, other runs as `-`: safe in URLs and file names.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        "component".into()
    } else {
        out
    }
}

/// The page's indicator: the worst impact among the open published incidents.
pub fn indicator(incidents: &[Incident]) -> Indicator {
    incidents
        .iter()
        .filter(|i| i.published && i.status.is_open())
        .map(|i| Indicator::for_severity(i.severity))
        .max()
        .unwrap_or(Indicator::None)
}

/// One public update of an incident (`incident_updates[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUpdate {
    pub at: DateTime<Utc>,
    /// The incident's status after this update.
    pub status: Status,
    pub body: String,
    /// Who wrote it; `None` unless names are shown (`[status_page] show_names`).
    pub author: Option<String>,
}

/// The public updates of a published incident, newest first: its opening, status updates,
/// status changes, reopening and resolution. Nothing else of the timeline (conversation,
/// acknowledgements, escalations, edits) is public. Empty for an unpublished incident.
pub fn public_updates(
    inc: &Incident,
    timeline: &[TimelineEvent],
    show_names: bool,
) -> Vec<PublicUpdate> {
    if !inc.published {
        return Vec::new();
    }
    let mut status = Status::Investigating;
    let mut out = Vec::new();
    for ev in timeline.iter().filter(|e| e.incident == inc.id) {
        let Some(kind) = TimelineKind::parse(&ev.kind) else {
            continue;
        };
        let body = match kind {
            TimelineKind::Opened => {
                status = Status::Investigating;
                format!("Investigating: {}", inc.title)
            }
            TimelineKind::Update => ev.detail.clone(),
            TimelineKind::Status => {
                if let Some(to) = ev.detail.rsplit("-> ").next().and_then(|s| s.parse().ok()) {
                    status = to;
                }
                format!("Status changed to {status}.")
            }
            TimelineKind::Reopened => {
                status = Status::Investigating;
                "The incident was reopened.".into()
            }
            TimelineKind::Resolved => {
                status = Status::Resolved;
                "This incident has been resolved.".into()
            }
            _ => continue,
        };
        out.push(PublicUpdate {
            at: ev.at,
            status,
            body,
            author: show_names.then(|| ev.actor.clone()),
        });
    }
    out.reverse();
    out
}

/// Scheduled maintenance (fed by a later issue; the page lists none yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maintenance {
    pub id: String,
    pub name: String,
    pub scheduled_for: DateTime<Utc>,
    pub scheduled_until: DateTime<Utc>,
    /// Component ids it affects.
    pub components: Vec<String>,
}

/// The maintenance windows known today: none, until the maintenance issue lands.
pub fn scheduled_maintenances() -> Vec<Maintenance> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::incident::{IncidentId, Source};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    fn inc(id: i64, sev: Severity, status: Status, apps: &[&str], published: bool) -> Incident {
        let t = at("2026-11-24T15:00:00Z");
        Incident {
            id: IncidentId(id),
            title: format!("incident {id}"),
            severity: sev,
            status,
            commander: Some("alice".into()),
            impacted_apps: apps.iter().map(|a| a.to_string()).collect(),
            business_impact: None,
            opened_by: "alice".into(),
            opened_platform: "console".into(),
            opened_channel: "#ops".into(),
            started_at: t,
            sla_class: "business".into(),
            sla_window_secs: 900,
            ack_deadline: t,
            acknowledged_at: None,
            acknowledged_by: None,
            acknowledged_where: None,
            resolved_at: None,
            resolution: None,
            last_update_at: t,
            published,
            version: 0,
        }
    }

    #[test]
    fn each_severity_maps_to_a_component_state_and_an_impact() {
        let expect = [
            (Severity::Sev1, "major_outage", "critical"),
            (Severity::Sev2, "partial_outage", "major"),
            (Severity::Sev3, "degraded_performance", "minor"),
            (Severity::Sev4, "operational", "minor"),
        ];
        for (sev, component, impact) in expect {
            assert_eq!(ComponentStatus::for_severity(sev).as_str(), component);
            assert_eq!(Indicator::for_severity(sev).as_str(), impact);
        }
        for st in Status::ALL {
            assert!(
                ["investigating", "identified", "monitoring", "resolved"]
                    .contains(&incident_status(st))
            );
        }
    }

    #[test]
    fn a_component_takes_the_worst_open_published_incident_naming_it() {
        let c = Component::new(0, "Checkout", "", &["payments-api".into()]);
        assert_eq!(c.id, "checkout");
        let incidents = [
            inc(1, Severity::Sev3, Status::Identified, &["CHECKOUT"], true),
            inc(
                2,
                Severity::Sev2,
                Status::Monitoring,
                &["payments-api"],
                true,
            ),
            // Worse, but not public, resolved, or about something else: no effect.
            inc(
                3,
                Severity::Sev1,
                Status::Investigating,
                &["checkout"],
                false,
            ),
            inc(4, Severity::Sev1, Status::Resolved, &["checkout"], true),
            inc(5, Severity::Sev1, Status::Investigating, &["search"], true),
        ];
        assert_eq!(c.status(&incidents), ComponentStatus::PartialOutage);
        assert_eq!(c.status(&incidents[2..4]), ComponentStatus::Operational);
        assert_eq!(c.status(&[]), ComponentStatus::Operational);
        assert_eq!(indicator(&incidents), Indicator::Critical);
        assert_eq!(indicator(&incidents[..2]), Indicator::Major);
        assert_eq!(indicator(&incidents[2..4]), Indicator::None);
        assert_eq!(Indicator::None.description(), "All Systems Operational");
    }

    #[test]
    fn the_publish_policy_defaults_to_sev1_and_sev2_and_refuses_no_ops() {
        let p = PublishPolicy::default();
        let published: Vec<_> = Severity::ALL
            .into_iter()
            .filter(|s| p.publishes(*s))
            .collect();
        assert_eq!(published, vec![Severity::Sev1, Severity::Sev2]);
        let mut i = inc(7, Severity::Sev3, Status::Investigating, &[], false);
        assert_eq!(
            set_published(&mut i, false).unwrap_err().to_string(),
            "INC-7 is not on the status page"
        );
        set_published(&mut i, true).expect("publish");
        assert!(i.published);
        assert_eq!(
            set_published(&mut i, true).unwrap_err().to_string(),
            "INC-7 is already on the status page"
        );
    }

    #[test]
    fn slugs_are_url_and_file_safe() {
        assert_eq!(slug("  Payments API (EU) "), "payments-api-eu");
        assert_eq!(slug("<script>"), "script");
        assert_eq!(slug("日本"), "component");
    }

    fn ev(id: i64, min: i64, kind: TimelineKind, detail: &str) -> TimelineEvent {
        TimelineEvent {
            incident: IncidentId(id),
            at: at("2026-11-24T15:00:00Z") + chrono::Duration::minutes(min),
            kind: kind.as_str().into(),
            actor: "alice".into(),
            source: Source::default(),
            detail: detail.into(),
        }
    }

    #[test]
    fn public_updates_are_status_news_only_newest_first_and_nameless_by_default() {
        let i = inc(1, Severity::Sev1, Status::Resolved, &[], true);
        let timeline = [
            ev(1, 0, TimelineKind::Opened, "business hours"),
            ev(1, 1, TimelineKind::Ack, "met"),
            ev(1, 2, TimelineKind::Commander, "alice"),
            ev(1, 3, TimelineKind::Update, "failing over"),
            ev(1, 4, TimelineKind::BusinessImpact, "internal impact words"),
            ev(1, 5, TimelineKind::Status, "investigating -> monitoring"),
            ev(1, 6, TimelineKind::MessageEdited, "secret chat"),
            ev(1, 7, TimelineKind::EscalationStep, "paged bob"),
            ev(1, 8, TimelineKind::Resolved, "root cause internal"),
            ev(2, 9, TimelineKind::Update, "another incident"),
        ];
        let ups = public_updates(&i, &timeline, false);
        let bodies: Vec<_> = ups.iter().map(|u| u.body.as_str()).collect();
        assert_eq!(
            bodies,
            vec![
                "This incident has been resolved.",
                "Status changed to monitoring.",
                "failing over",
                "Investigating: incident 1",
            ]
        );
        let statuses: Vec<_> = ups.iter().map(|u| u.status).collect();
        assert_eq!(
            statuses,
            vec![
                Status::Resolved,
                Status::Monitoring,
                Status::Investigating,
                Status::Investigating
            ]
        );
        assert!(ups.iter().all(|u| u.author.is_none()));
        assert!(
            public_updates(&i, &timeline, true)
                .iter()
                .all(|u| u.author.as_deref() == Some("alice"))
        );
        let hidden = inc(1, Severity::Sev1, Status::Resolved, &[], false);
        assert!(public_updates(&hidden, &timeline, true).is_empty());
        assert!(scheduled_maintenances().is_empty());
    }
}
