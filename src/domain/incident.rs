//! Incidents, their severities and the status state machine.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::sla::{SlaOutcome, outcome};

/// The incident number, shown as `INC-<n>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct IncidentId(pub i64);

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "INC-{}", self.0)
    }
}

impl FromStr for IncidentId {
    type Err = ();
    /// Accepts `INC-7` in any case.
    fn from_str(s: &str) -> Result<Self, ()> {
        let s = s.trim();
        let rest = s
            .get(..4)
            .filter(|p| p.eq_ignore_ascii_case("INC-"))
            .map(|_| &s[4..])
            .ok_or(())?;
        if rest.is_empty() || rest.len() > 15 || !rest.bytes().all(|b| b.is_ascii_digit()) {
            return Err(());
        }
        rest.parse().map(IncidentId).map_err(|_| ())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Severity {
    Sev1,
    Sev2,
    #[default]
    Sev3,
    Sev4,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Sev1,
        Severity::Sev2,
        Severity::Sev3,
        Severity::Sev4,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Sev1 => "SEV1",
            Severity::Sev2 => "SEV2",
            Severity::Sev3 => "SEV3",
            Severity::Sev4 => "SEV4",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Severity::Sev1 => "critical",
            Severity::Sev2 => "major",
            Severity::Sev3 => "minor",
            Severity::Sev4 => "low",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "sev1" => Ok(Severity::Sev1),
            "sev2" => Ok(Severity::Sev2),
            "sev3" => Ok(Severity::Sev3),
            "sev4" => Ok(Severity::Sev4),
            _ => Err(()),
        }
    }
}

/// Status of an incident. Open statuses move forward only (`investigating -> identified ->
/// monitoring`, skipping allowed); `resolved` is left only by `reopen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Status {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Investigating,
        Status::Identified,
        Status::Monitoring,
        Status::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Investigating => "investigating",
            Status::Identified => "identified",
            Status::Monitoring => "monitoring",
            Status::Resolved => "resolved",
        }
    }

    pub fn is_open(self) -> bool {
        self != Status::Resolved
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or(())
    }
}

/// Why a change to an incident is not allowed; the text is shown in chat.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("{0} is already {1}")]
    Unchanged(IncidentId, Status),
    #[error("{0} is {1}; it cannot go back to {2} (statuses only move forward)")]
    Backwards(IncidentId, Status, Status),
    #[error("{0} is resolved; reopen it first (`!incident reopen {0}`)")]
    Resolved(IncidentId),
    #[error("{0} is not resolved, so there is nothing to reopen")]
    NotResolved(IncidentId),
    /// Who acknowledged it, and when (in the calendar's zone, as people read it).
    #[error("{0} was already acknowledged by {1} at {at}.", at = .2.format("%Y-%m-%d %H:%M:%S %Z"))]
    AlreadyAcknowledged(IncidentId, String, DateTime<Tz>),
    #[error("{0} is resolved; there is nothing to acknowledge. Nothing was recorded.")]
    NothingToAcknowledge(IncidentId),
    /// A change (other than a status change) to a resolved incident.
    #[error("{0} is resolved; reopen it first.")]
    ReopenFirst(IncidentId),
    #[error("{0} is already {1}; nothing was changed.")]
    SameSeverity(IncidentId, Severity),
    #[error("{0} already has that title; nothing was changed.")]
    SameTitle(IncidentId),
}

/// Checks a status change.
pub fn check_transition(id: IncidentId, from: Status, to: Status) -> Result<(), TransitionError> {
    if from == Status::Resolved {
        return Err(if to == Status::Resolved {
            TransitionError::Unchanged(id, from)
        } else {
            TransitionError::Resolved(id)
        });
    }
    if from == to {
        return Err(TransitionError::Unchanged(id, from));
    }
    if to < from {
        return Err(TransitionError::Backwards(id, from, to));
    }
    Ok(())
}

/// Checks a reopen.
pub fn check_reopen(id: IncidentId, from: Status) -> Result<(), TransitionError> {
    if from == Status::Resolved {
        Ok(())
    } else {
        Err(TransitionError::NotResolved(id))
    }
}

/// Where something happened: the platform instance, channel, user and message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Source {
    pub platform: String,
    pub channel: String,
    pub user: String,
    pub message_id: String,
}

impl Source {
    pub fn place(&self) -> String {
        format!("{} {}", self.platform, self.channel)
    }
}

/// An incident as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Incident {
    pub id: IncidentId,
    pub title: String,
    pub severity: Severity,
    pub status: Status,
    pub commander: Option<String>,
    pub impacted_apps: Vec<String>,
    pub business_impact: Option<String>,
    /// Who opened it (a person's name, or `platform:user` for people not in the directory).
    pub opened_by: String,
    pub opened_platform: String,
    pub opened_channel: String,
    pub started_at: DateTime<Utc>,
    pub sla_class: String,
    pub sla_window_secs: i64,
    pub ack_deadline: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_where: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution: Option<String>,
    pub last_update_at: DateTime<Utc>,
    /// On the public status page (`[status_page] publish`, `!inc publish`/`unpublish`).
    pub published: bool,
    /// Bumped on every change; updates check it (optimistic concurrency across replicas).
    pub version: i64,
}

impl Incident {
    /// Open and not acknowledged yet: what reminders, the breach and first replies look for.
    pub fn awaits_ack(&self) -> bool {
        self.status.is_open() && self.acknowledged_at.is_none()
    }

    /// Whether an acknowledgement at `at` meets the ack deadline, and by how much.
    pub fn ack_outcome(&self, at: DateTime<Utc>) -> SlaOutcome {
        outcome(self.ack_deadline, at)
    }

    /// Records an acknowledgement by `by` in `place` at `at`, and decides whether it met the
    /// SLA. Refused for a resolved incident or one already acknowledged (whose time the
    /// refusal shows in `zone`).
    pub fn acknowledge(
        &mut self,
        at: DateTime<Utc>,
        by: &str,
        place: String,
        zone: Tz,
    ) -> Result<SlaOutcome, TransitionError> {
        if !self.status.is_open() {
            return Err(TransitionError::NothingToAcknowledge(self.id));
        }
        if let (Some(who), Some(when)) = (&self.acknowledged_by, self.acknowledged_at) {
            return Err(TransitionError::AlreadyAcknowledged(
                self.id,
                who.clone(),
                when.with_timezone(&zone),
            ));
        }
        self.acknowledged_at = Some(at);
        self.acknowledged_by = Some(by.to_string());
        self.acknowledged_where = Some(place);
        Ok(self.ack_outcome(at))
    }

    /// A status update was posted at `at` (the update nudge counts from here).
    pub fn post_update(&mut self, at: DateTime<Utc>) {
        self.last_update_at = at;
    }

    /// Moves the status forward; returns the status it had. Resolving goes by `resolve`.
    pub fn set_status(&mut self, to: Status, at: DateTime<Utc>) -> Result<Status, TransitionError> {
        check_transition(self.id, self.status, to)?;
        let was = self.status;
        self.status = to;
        self.last_update_at = at;
        Ok(was)
    }

    pub fn resolve(
        &mut self,
        at: DateTime<Utc>,
        summary: Option<String>,
    ) -> Result<(), TransitionError> {
        check_transition(self.id, self.status, Status::Resolved)?;
        self.status = Status::Resolved;
        self.resolved_at = Some(at);
        self.resolution = summary;
        self.last_update_at = at;
        Ok(())
    }

    /// Back to `investigating`; the resolution text is kept for the record.
    pub fn reopen(&mut self, at: DateTime<Utc>) -> Result<(), TransitionError> {
        check_reopen(self.id, self.status)?;
        self.status = Status::Investigating;
        self.resolved_at = None;
        self.last_update_at = at;
        Ok(())
    }

    /// Changes the severity of an open incident; returns the one it had.
    pub fn set_severity(&mut self, to: Severity) -> Result<Severity, TransitionError> {
        if !self.status.is_open() {
            return Err(TransitionError::ReopenFirst(self.id));
        }
        if self.severity == to {
            return Err(TransitionError::SameSeverity(self.id, to));
        }
        Ok(std::mem::replace(&mut self.severity, to))
    }

    /// Renames an open incident; returns the title it had.
    pub fn set_title(&mut self, to: String) -> Result<String, TransitionError> {
        if !self.status.is_open() {
            return Err(TransitionError::ReopenFirst(self.id));
        }
        if self.title == to {
            return Err(TransitionError::SameTitle(self.id));
        }
        Ok(std::mem::replace(&mut self.title, to))
    }

    pub fn name_commander(
        &mut self,
        name: String,
        at: DateTime<Utc>,
    ) -> Result<(), TransitionError> {
        if !self.status.is_open() {
            return Err(TransitionError::ReopenFirst(self.id));
        }
        self.commander = Some(name);
        self.last_update_at = at;
        Ok(())
    }
}

/// One entry of an incident's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelineEvent {
    pub incident: IncidentId,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub actor: String,
    pub source: Source,
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incident_ids_parse_and_print() {
        assert_eq!("INC-7".parse::<IncidentId>(), Ok(IncidentId(7)));
        assert_eq!("inc-42".parse::<IncidentId>(), Ok(IncidentId(42)));
        assert_eq!(IncidentId(9).to_string(), "INC-9");
        for bad in [
            "INC-",
            "INC7",
            "INC-x",
            "INC--1",
            "INC-99999999999999999999",
            "",
            "7",
        ] {
            assert!(bad.parse::<IncidentId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn severities_parse() {
        assert_eq!("SEV1".parse::<Severity>(), Ok(Severity::Sev1));
        assert_eq!("sev4".parse::<Severity>(), Ok(Severity::Sev4));
        assert!("sev5".parse::<Severity>().is_err());
        assert_eq!(Severity::default(), Severity::Sev3);
    }

    #[test]
    fn every_transition_is_decided() {
        let id = IncidentId(1);
        for from in Status::ALL {
            for to in Status::ALL {
                let r = check_transition(id, from, to);
                let legal = from != Status::Resolved && to > from;
                assert_eq!(r.is_ok(), legal, "{from} -> {to}: {r:?}");
            }
            assert_eq!(check_reopen(id, from).is_ok(), from == Status::Resolved);
        }
        assert_eq!(
            check_transition(id, Status::Resolved, Status::Monitoring)
                .unwrap_err()
                .to_string(),
            "INC-1 is resolved; reopen it first (`!incident reopen INC-1`)"
        );
    }

    fn incident(deadline: DateTime<Utc>) -> Incident {
        Incident {
            id: IncidentId(3),
            title: "db down".into(),
            severity: Severity::Sev2,
            status: Status::Investigating,
            commander: None,
            impacted_apps: Vec::new(),
            business_impact: None,
            opened_by: "ana".into(),
            opened_platform: "console".into(),
            opened_channel: "#ops".into(),
            started_at: deadline - chrono::Duration::minutes(15),
            sla_class: "business".into(),
            sla_window_secs: 900,
            ack_deadline: deadline,
            acknowledged_at: None,
            acknowledged_by: None,
            acknowledged_where: None,
            resolved_at: None,
            resolution: None,
            last_update_at: deadline - chrono::Duration::minutes(15),
            published: false,
            version: 1,
        }
    }

    #[test]
    fn severity_and_title_change_only_on_open_incidents_and_only_when_different() {
        let deadline: DateTime<Utc> = "2026-11-24T15:15:00Z".parse().unwrap();
        let mut inc = incident(deadline);
        assert_eq!(inc.set_severity(Severity::Sev1), Ok(Severity::Sev2));
        assert_eq!(inc.severity, Severity::Sev1);
        assert_eq!(
            inc.set_severity(Severity::Sev1).unwrap_err().to_string(),
            "INC-3 is already SEV1; nothing was changed."
        );
        assert_eq!(inc.set_title("db slow".into()), Ok("db down".into()));
        assert_eq!(
            inc.set_title("db slow".into()),
            Err(TransitionError::SameTitle(IncidentId(3)))
        );
        inc.resolve(deadline, None).unwrap();
        assert_eq!(
            inc.set_severity(Severity::Sev4),
            Err(TransitionError::ReopenFirst(IncidentId(3)))
        );
        assert_eq!(
            inc.set_title("x".into()),
            Err(TransitionError::ReopenFirst(IncidentId(3)))
        );
        assert_eq!(
            (inc.severity, inc.title.as_str()),
            (Severity::Sev1, "db slow")
        );
    }

    #[test]
    fn the_domain_decides_whether_an_ack_met_the_sla() {
        let deadline: DateTime<Utc> = "2026-11-24T15:15:00Z".parse().unwrap();
        let zone: Tz = "America/New_York".parse().unwrap();
        let mut inc = incident(deadline);
        let early = deadline - chrono::Duration::minutes(5);
        assert_eq!(
            inc.acknowledge(early, "Bo", "console #ops".into(), zone),
            Ok(SlaOutcome::Met {
                margin: chrono::Duration::minutes(5)
            })
        );
        assert_eq!(inc.acknowledged_by.as_deref(), Some("Bo"));
        let again = inc.acknowledge(deadline, "Cy", "console #ops".into(), zone);
        assert_eq!(
            again.unwrap_err().to_string(),
            "INC-3 was already acknowledged by Bo at 2026-11-24 10:10:00 EST."
        );
        let mut late = incident(deadline);
        assert_eq!(
            late.acknowledge(
                deadline + chrono::Duration::minutes(2),
                "Bo",
                "x".into(),
                zone
            ),
            Ok(SlaOutcome::Breached {
                by: chrono::Duration::minutes(2)
            })
        );
        let mut resolved = incident(deadline);
        resolved.resolve(deadline, None).unwrap();
        assert_eq!(
            resolved
                .acknowledge(deadline, "Bo", "x".into(), zone)
                .unwrap_err()
                .to_string(),
            "INC-3 is resolved; there is nothing to acknowledge. Nothing was recorded."
        );
        assert_eq!(
            resolved
                .name_commander("Bo".into(), deadline)
                .unwrap_err()
                .to_string(),
            "INC-3 is resolved; reopen it first."
        );
        resolved.reopen(deadline).unwrap();
        assert_eq!(resolved.status, Status::Investigating);
        assert_eq!(resolved.resolved_at, None);
    }
}
