//! The kinds of entry in an incident's timeline. The store keeps each as its `as_str` text.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimelineKind {
    Opened,
    /// Acknowledged with `!inc ack`.
    Ack,
    /// Acknowledged by the first reply in the thread from someone other than the opener.
    AckFirstReply,
    Update,
    Status,
    /// The severity changed (`SEV3 -> SEV1`).
    Severity,
    /// The title changed (the detail is the old title).
    Title,
    Commander,
    ImpactedApps,
    BusinessImpact,
    Reopened,
    Resolved,
    MessageEdited,
    MessageDeleted,
    /// Flare told someone (the entry's actor) that a reaction does not acknowledge: once per
    /// person and incident.
    ReactionNotice,
    AckBreached,
    EscalationStarted,
    EscalationStep,
    UpdateNudge,
    /// Put on the public status page (`!inc publish`).
    Published,
    /// Taken off the public status page (`!inc unpublish`).
    Unpublished,
}

impl TimelineKind {
    pub const ALL: [TimelineKind; 21] = [
        TimelineKind::Opened,
        TimelineKind::Ack,
        TimelineKind::AckFirstReply,
        TimelineKind::Update,
        TimelineKind::Status,
        TimelineKind::Severity,
        TimelineKind::Title,
        TimelineKind::Commander,
        TimelineKind::ImpactedApps,
        TimelineKind::BusinessImpact,
        TimelineKind::Reopened,
        TimelineKind::Resolved,
        TimelineKind::MessageEdited,
        TimelineKind::MessageDeleted,
        TimelineKind::ReactionNotice,
        TimelineKind::AckBreached,
        TimelineKind::EscalationStarted,
        TimelineKind::EscalationStep,
        TimelineKind::UpdateNudge,
        TimelineKind::Published,
        TimelineKind::Unpublished,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            TimelineKind::Opened => "opened",
            TimelineKind::Ack => "ack",
            TimelineKind::AckFirstReply => "ack_first_reply",
            TimelineKind::Update => "update",
            TimelineKind::Status => "status",
            TimelineKind::Severity => "severity",
            TimelineKind::Title => "title",
            TimelineKind::Commander => "commander",
            TimelineKind::ImpactedApps => "impacted_apps",
            TimelineKind::BusinessImpact => "business_impact",
            TimelineKind::Reopened => "reopened",
            TimelineKind::Resolved => "resolved",
            TimelineKind::MessageEdited => "message_edited",
            TimelineKind::MessageDeleted => "message_deleted",
            TimelineKind::ReactionNotice => "reaction_notice",
            TimelineKind::AckBreached => "ack_breached",
            TimelineKind::EscalationStarted => "escalation_started",
            TimelineKind::EscalationStep => "escalation_step",
            TimelineKind::UpdateNudge => "update_nudge",
            TimelineKind::Published => "published",
            TimelineKind::Unpublished => "unpublished",
        }
    }

    /// The kind a stored text names; `None` for a kind this version does not know.
    pub fn parse(s: &str) -> Option<TimelineKind> {
        TimelineKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for TimelineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_stored_text() {
        for k in TimelineKind::ALL {
            assert_eq!(TimelineKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(TimelineKind::parse("nope"), None);
    }

    #[test]
    fn the_export_docs_name_every_kind() {
        let docs = include_str!("../../docs/export.md");
        for k in TimelineKind::ALL {
            assert!(docs.contains(&format!("`{}`", k.as_str())), "{k}");
        }
    }
}
