//! The kinds of durable timer Flare sets. The store keeps each as its `as_str` text.

use std::fmt;

/// What a timer does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerKind {
    /// A reminder before the ack deadline.
    AckReminder,
    /// The ack deadline itself: the SLA is breached.
    AckBreach,
    /// One step of the escalation path (payload: the step's index).
    Escalation,
    /// No status update for a while.
    UpdateNudge,
    /// A rotation's handoff announcement (payload: the rotation's name).
    RotationHandoff,
    /// A cron announcement (payload: the announcement's name).
    Announcement,
}

impl TimerKind {
    pub const ALL: [TimerKind; 6] = [
        TimerKind::AckReminder,
        TimerKind::AckBreach,
        TimerKind::Escalation,
        TimerKind::UpdateNudge,
        TimerKind::RotationHandoff,
        TimerKind::Announcement,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            TimerKind::AckReminder => "ack_reminder",
            TimerKind::AckBreach => "ack_breach",
            TimerKind::Escalation => "escalation",
            TimerKind::UpdateNudge => "update_nudge",
            TimerKind::RotationHandoff => "rotation_handoff",
            TimerKind::Announcement => "announcement",
        }
    }

    /// The kind a stored text names; `None` for a kind this version does not know.
    pub fn parse(s: &str) -> Option<TimerKind> {
        TimerKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for TimerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The timers an acknowledgement cancels, as stored.
pub const ACK_TIMERS: &[&str] = &[
    TimerKind::AckReminder.as_str(),
    TimerKind::AckBreach.as_str(),
    TimerKind::Escalation.as_str(),
];

/// Every timer tied to an open incident (cancelled on resolve), as stored.
pub const INCIDENT_TIMERS: &[&str] = &[
    TimerKind::AckReminder.as_str(),
    TimerKind::AckBreach.as_str(),
    TimerKind::Escalation.as_str(),
    TimerKind::UpdateNudge.as_str(),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_stored_text() {
        for k in TimerKind::ALL {
            assert_eq!(TimerKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(TimerKind::parse("ack_breach"), Some(TimerKind::AckBreach));
        assert_eq!(TimerKind::parse("bogus"), None);
    }
}
