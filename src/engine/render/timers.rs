//! What fired timers say.

use chrono::{DateTime, Duration, Utc};

use super::{headline, local_short, when};
use crate::domain::calendar::BusinessCalendar;
use crate::domain::incident::Incident;
use crate::domain::oncall::OnCall;
use crate::domain::sla::human_duration;

/// Added to a timer's text when it fired late (`lateness` below is this, or empty).
pub fn late(cal: &BusinessCalendar, due_at: DateTime<Utc>, late: Duration) -> String {
    format!(
        " (late: due at {}, fired {} after; Flare was not running then)",
        local_short(cal, due_at),
        human_duration(late)
    )
}

pub fn ack_reminder(
    cal: &BusinessCalendar,
    i: &Incident,
    due_at: DateTime<Utc>,
    lateness: &str,
) -> String {
    format!(
        "⏰ {} is not acknowledged: {} left (deadline {}). Reply in this thread or `!inc ack`.{}",
        headline(i),
        human_duration(i.ack_deadline - due_at),
        local_short(cal, i.ack_deadline),
        lateness
    )
}

pub fn ack_breached(cal: &BusinessCalendar, i: &Incident, lateness: &str) -> String {
    format!(
        "🚨 {}: ack SLA breached. Not acknowledged within {} (deadline {}).{}",
        headline(i),
        human_duration(Duration::seconds(i.sla_window_secs)),
        local_short(cal, i.ack_deadline),
        lateness
    )
}

/// No status update for `quiet`; `who` is the person pinged, if any.
pub fn nudge(i: &Incident, quiet: Duration, who: Option<&str>, lateness: &str) -> String {
    format!(
        "📝 {} has had no status update for {}{}. Post one with `!inc update {} <what changed>`.{lateness}",
        headline(i),
        human_duration(quiet),
        match who {
            Some(p) => format!(" ({p})"),
            None => String::new(),
        },
        i.id
    )
}

pub fn handoff(
    cal: &BusinessCalendar,
    rotation: &str,
    cur: &OnCall,
    next: &OnCall,
    lateness: &str,
) -> String {
    format!(
        "📟 On-call handoff ({}): {} is on call{} until {}; next: {}.{lateness}",
        rotation,
        cur.person,
        if cur.overridden { " (override)" } else { "" },
        when(cal, cur.until),
        next.person
    )
}

/// The direct message to someone paged by escalation step `step` of `n`.
pub fn paged(i: &Incident, step: usize, n: usize, lateness: &str) -> String {
    format!(
        "🚨 You are paged for {}: not acknowledged, escalation step {step}/{n}. Reply in its incident thread or `!inc ack {}`.{lateness}",
        headline(i),
        i.id
    )
}

pub fn escalation_paging(i: &Incident, step: usize, n: usize, who: &str, lateness: &str) -> String {
    format!(
        "🚨 {} is still not acknowledged: escalation step {step}/{n}, paging {who}.{lateness}",
        headline(i)
    )
}

/// A step by a transport Flare does not have yet (`via`: e-mail, webhook).
pub fn escalation_unsent(
    i: &Incident,
    step: usize,
    n: usize,
    via: &str,
    who: &str,
    lateness: &str,
) -> String {
    format!(
        "🚨 {}: escalation step {step}/{n} ({via} to {who}) is recorded but cannot be sent yet: {via} transport is not available.{lateness}",
        headline(i)
    )
}

pub fn announcement(text: &str, lateness: &str) -> String {
    format!("📢 {text}{lateness}")
}
