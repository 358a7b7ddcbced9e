//! The texts Flare writes. Plain text: each adapter escapes and formats for its platform.

use chrono::{DateTime, Utc};

use crate::domain::calendar::BusinessCalendar;
use crate::domain::incident::Incident;
use crate::domain::sla::{SlaOutcome, human_duration};

/// `2026-11-24 10:15:00 EST`
pub fn local(cal: &BusinessCalendar, t: DateTime<Utc>) -> String {
    t.with_timezone(&cal.zone())
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

/// `10:15 EST`
pub fn local_short(cal: &BusinessCalendar, t: DateTime<Utc>) -> String {
    t.with_timezone(&cal.zone()).format("%H:%M %Z").to_string()
}

pub fn headline(i: &Incident) -> String {
    format!("{} [{} {}] {}", i.id, i.severity, i.status, i.title)
}

pub fn class_label(class: &str) -> &str {
    match class {
        "business" => "business hours",
        "after_hours" => "after hours",
        "weekend" => "weekend",
        "holiday" => "holiday",
        other => other,
    }
}

pub fn thread_root(cal: &BusinessCalendar, i: &Incident, opener: &str, place: &str) -> String {
    format!(
        "🔥 {} [{}] {}\nOpened by {} in {} at {}. Status: {}.\nAck SLA: {} ({}), acknowledge by {}.\nReply in this thread: the first reply from someone other than the opener, or `!inc ack`, acknowledges it.",
        i.id,
        i.severity,
        i.title,
        opener,
        place,
        local(cal, i.started_at),
        i.status,
        human_duration(chrono::Duration::seconds(i.sla_window_secs)),
        class_label(&i.sla_class),
        local_short(cal, i.ack_deadline),
    )
}

pub fn ack_outcome(i: &Incident, acked_at: DateTime<Utc>) -> String {
    sla_outcome(i.ack_outcome(acked_at))
}

/// How an acknowledgement stood against the SLA, as the timeline and chat say it.
pub fn sla_outcome(o: SlaOutcome) -> String {
    match o {
        SlaOutcome::Met { margin } => format!("within SLA ({} to spare)", human_duration(margin)),
        SlaOutcome::Breached { by } => format!("SLA breached by {}", human_duration(by)),
    }
}

pub fn acknowledged(cal: &BusinessCalendar, i: &Incident, who: &str, place: &str) -> String {
    let at = i.acknowledged_at.unwrap_or(i.started_at);
    format!(
        "✅ {} acknowledged by {} in {} at {}, {}.",
        i.id,
        who,
        place,
        local(cal, at),
        ack_outcome(i, at)
    )
}

pub fn status_update(i: &Incident, who: &str, text: &str) -> String {
    format!("📣 {} update from {}: {}", headline(i), who, text)
}

pub fn list(cal: &BusinessCalendar, open: &[Incident]) -> String {
    if open.is_empty() {
        return "No open incidents.".into();
    }
    let mut out = format!("{} open incident(s):", open.len());
    for i in open {
        let ack = match (&i.acknowledged_by, i.acknowledged_at) {
            (Some(by), Some(_)) => format!("acked by {by}"),
            _ => format!("NOT acked, due {}", local_short(cal, i.ack_deadline)),
        };
        out.push_str(&format!(
            "\n  {} - started {} - {}",
            headline(i),
            local(cal, i.started_at),
            ack
        ));
    }
    out
}
