//! The texts Flare writes. Plain text: each adapter escapes and formats for its platform.

use chrono::{DateTime, Duration, Utc};

use crate::chat::Inbound;
use crate::domain::calendar::BusinessCalendar;
use crate::domain::incident::{Incident, IncidentId, Severity, Status};
use crate::domain::oncall::OnCall;
use crate::domain::people::Actor;
use crate::domain::sla::{SlaAssessment, SlaOutcome, human_duration};

pub mod export;
mod show;
mod timers;

pub use show::{SHOWN_EVENTS, ShowFacts, show, timeline};
pub use timers::*;

/// `2026-11-24 10:15:00 EST`
pub fn local(cal: &BusinessCalendar, t: DateTime<Utc>) -> String {
    t.with_timezone(&cal.zone())
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

/// A day and time people can place: `Mon 2026-11-30 09:00 EST`.
pub fn when(cal: &BusinessCalendar, t: DateTime<Utc>) -> String {
    t.with_timezone(&cal.zone())
        .format("%a %Y-%m-%d %H:%M %Z")
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

/// The reply to `!incident list resolved [since]`.
pub fn list_resolved(
    cal: &BusinessCalendar,
    since: DateTime<Utc>,
    listed: &[Incident],
    total: i64,
) -> String {
    if listed.is_empty() {
        return format!("No incident resolved since {}.", local(cal, since));
    }
    let mut out = format!(
        "{total} incident(s) resolved since {}, latest first:",
        local(cal, since)
    );
    for i in listed {
        let lasted = i
            .resolved_at
            .map(|r| format!(" after {}", human_duration(r - i.started_at)))
            .unwrap_or_default();
        out.push_str(&format!(
            "\n  {} - resolved {}{}{}",
            headline(i),
            i.resolved_at
                .map(|r| local(cal, r))
                .unwrap_or_else(|| "?".into()),
            lasted,
            i.resolution
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ));
    }
    let left = total - listed.len() as i64;
    if left > 0 {
        out.push_str(&format!(
            "\n  … and {left} earlier, not shown: give a later date or a shorter span."
        ));
    }
    out
}

// Replies to commands.

/// After a command that does not use the lines after its own.
pub fn lines_not_used(command: &str, n: usize) -> String {
    format!(
        "Only the first line is a command: the {n} line{} after `{command}` {} not used.",
        if n == 1 { "" } else { "s" },
        if n == 1 { "was" } else { "were" }
    )
}

/// Once per person and incident, to someone who reacted instead of acknowledging.
pub fn reaction_is_no_ack(who: &str, id: IncidentId) -> String {
    format!(
        "{}, a reaction does not acknowledge {}: reactions carry no timestamp. Post a message in the thread (or `!inc ack {}`) to acknowledge it.",
        who, id, id
    )
}

pub fn not_a_responder(command: &str, actor: &Actor, ev: &Inbound) -> String {
    let why = if actor.known {
        format!("{} is not a responder", actor.display)
    } else {
        format!(
            "{} on {} is not in Flare's people directory",
            ev.author.id, ev.platform
        )
    };
    format!("Only responders may `{command}` incidents, and {why}. Nothing was changed.")
}

pub fn which_incident(usage: &str) -> String {
    format!("Which incident? Name it (`{usage}` with INC-n) or write in the incident's thread.")
}

pub fn no_incident(id: IncidentId) -> String {
    format!("no incident {id}")
}

pub fn not_a_time(s: &str) -> String {
    format!(
        "`{s}` is not an RFC 3339 time. Usage: !incident sla [<time>], e.g. !incident sla 2026-11-26T10:00:00-05:00"
    )
}

/// The `opened` timeline entry: the SLA class and window.
pub fn opened_detail(sla: &SlaAssessment) -> String {
    match sla.class.holiday() {
        Some(h) => format!(
            "{} ({h}), ack within {}s",
            sla.class.as_str(),
            sla.window.num_seconds()
        ),
        None => format!(
            "{}, ack within {}s",
            sla.class.as_str(),
            sla.window.num_seconds()
        ),
    }
}

pub fn opened_announcement(i: &Incident, opener: &str, places: &[String]) -> String {
    format!(
        "🔥 {} opened by {}: follow it in the incident channels ({}).",
        headline(i),
        opener,
        places.join(", ")
    )
}

/// The reply to `!incident open`, where it was written; `described` is how many lines after
/// the command became its first update.
pub fn opened_reply(
    cal: &BusinessCalendar,
    i: &Incident,
    places: &[String],
    described: usize,
) -> String {
    let mut s = if places.is_empty() {
        format!(
            "Opened {} but no incident channel is configured, so no thread was created.",
            i.id
        )
    } else {
        format!(
            "Opened {} [{}] with a thread in: {}. Ack by {}.",
            i.id,
            i.severity,
            places.join(", "),
            local_short(cal, i.ack_deadline)
        )
    };
    if described > 0 {
        s.push_str(&format!(
            " The {described} line{} after the command {} its first update.",
            if described == 1 { "" } else { "s" },
            if described == 1 { "is" } else { "are" }
        ));
    }
    s
}

pub fn on_call(cal: &BusinessCalendar, rotation: &str, cur: &OnCall, next: &OnCall) -> String {
    format!(
        "On call ({}): {}{} until {}; next: {}.",
        rotation,
        cur.person,
        if cur.overridden { " (override)" } else { "" },
        when(cal, cur.until),
        next.person
    )
}

pub fn not_in_directory(person: &str) -> String {
    format!("`{person}` is not in Flare's people directory; nothing was changed.")
}

pub fn override_backwards(
    cal: &BusinessCalendar,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> String {
    format!(
        "The override ends ({}) before it starts ({}); nothing was changed.",
        when(cal, to),
        when(cal, from)
    )
}

pub fn override_added(
    cal: &BusinessCalendar,
    person: &str,
    rotation: &str,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    by: &str,
) -> String {
    format!(
        "{} is on call ({}) from {} to {} (override by {}).",
        person,
        rotation,
        when(cal, from),
        when(cal, to),
        by
    )
}

// What the incident's threads and the announcement channels are told of a change.

pub fn status_changed(i: &Incident, was: Status, who: &str) -> String {
    format!(
        "📣 {} is now {} (was {}), set by {}.",
        headline(i),
        i.status,
        was,
        who
    )
}

pub fn severity_changed(i: &Incident, was: Severity, who: &str) -> String {
    format!(
        "📣 {} severity {} → {} by {}: {}",
        i.id, was, i.severity, who, i.title
    )
}

pub fn title_changed(i: &Incident, was: &str, who: &str) -> String {
    format!(
        "📣 {} [{} {}] renamed by {}: {} (was: {})",
        i.id, i.severity, i.status, who, i.title, was
    )
}

pub fn commander_named(i: &Incident, name: &str, who: &str) -> String {
    format!(
        "📣 {}: {} is now the incident commander (named by {}).",
        headline(i),
        name,
        who
    )
}

pub fn apps_set(i: &Incident, list: &str, who: &str) -> String {
    format!(
        "📣 {}: impacted applications {} (set by {}).",
        headline(i),
        list,
        who
    )
}

pub fn impact_set(i: &Incident, text: &str, who: &str) -> String {
    format!(
        "📣 {}: business impact: {} (set by {}).",
        headline(i),
        text,
        who
    )
}

pub fn publication_set(i: &Incident, who: &str) -> String {
    if i.published {
        format!(
            "🌐 {} is now on the public status page (published by {}).",
            headline(i),
            who
        )
    } else {
        format!(
            "🔒 {} was taken off the public status page by {}.",
            headline(i),
            who
        )
    }
}

pub fn reopened(i: &Incident, who: &str) -> String {
    format!("🔥 {} was reopened by {}.", headline(i), who)
}

pub fn resolved(i: &Incident, who: &str, lasted: Duration, summary: Option<&str>) -> String {
    let lasted = human_duration(lasted);
    match summary {
        Some(s) => format!(
            "✅ {} resolved by {} after {}: {}",
            headline(i),
            who,
            lasted,
            s
        ),
        None => format!("✅ {} resolved by {} after {}.", headline(i), who, lasted),
    }
}
