//! The text of `!incident show`.

use chrono::{DateTime, Duration, Utc};

use super::{ack_outcome, class_label, headline, local};
use crate::domain::calendar::BusinessCalendar;
use crate::domain::incident::{Incident, TimelineEvent};
use crate::domain::sla::human_duration;
use crate::store::{Delivery, DeliveryCounts, ThreadRow, Timer};

/// What `show` reports besides the incident itself, read in the command's transaction.
pub struct ShowFacts {
    pub threads: Vec<ThreadRow>,
    pub counts: DeliveryCounts,
    pub failed: Vec<Delivery>,
    pub timers: Vec<Timer>,
    pub timeline: Vec<TimelineEvent>,
}

/// Everything about one incident: its state, the SLA, where its threads are, what was
/// delivered, the pending timers and the last ten timeline entries (saying how many more
/// there are).
pub fn show(
    cal: &BusinessCalendar,
    inc: &Incident,
    now: DateTime<Utc>,
    facts: &ShowFacts,
) -> String {
    let mut s = format!(
        "{}\n  severity {} ({}), status {}, commander {}\n  started {} ({}) by {} in {} {}",
        headline(inc),
        inc.severity,
        inc.severity.describe(),
        inc.status,
        inc.commander.as_deref().unwrap_or("none"),
        local(cal, inc.started_at),
        inc.started_at.format("%Y-%m-%dT%H:%M:%SZ"),
        inc.opened_by,
        inc.opened_platform,
        inc.opened_channel,
    );
    if !inc.impacted_apps.is_empty() {
        s.push_str(&format!(
            "\n  impacted applications: {}",
            inc.impacted_apps.join(", ")
        ));
    }
    if let Some(impact) = &inc.business_impact {
        s.push_str(&format!("\n  business impact: {impact}"));
    }
    s.push_str(&format!(
        "\n  ack SLA: {} window ({}), deadline {}",
        human_duration(Duration::seconds(inc.sla_window_secs)),
        class_label(&inc.sla_class),
        local(cal, inc.ack_deadline),
    ));
    match (inc.acknowledged_at, &inc.acknowledged_by) {
        (Some(at), Some(by)) => s.push_str(&format!(
            "\n  acknowledged by {} in {} at {}: {}",
            by,
            inc.acknowledged_where.as_deref().unwrap_or("?"),
            local(cal, at),
            ack_outcome(inc, at)
        )),
        _ => {
            if inc.status.is_open() && now > inc.ack_deadline {
                s.push_str(&format!(
                    "\n  NOT acknowledged: SLA breached {} ago",
                    human_duration(now - inc.ack_deadline)
                ));
            } else {
                s.push_str("\n  not acknowledged yet");
            }
        }
    }
    if let Some(at) = inc.resolved_at {
        s.push_str(&format!(
            "\n  resolved at {}{}",
            local(cal, at),
            inc.resolution
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ));
    }
    let threads = &facts.threads;
    if !threads.is_empty() {
        let places: Vec<String> = threads
            .iter()
            .map(|t| {
                format!(
                    "{} {}{}",
                    t.platform,
                    t.channel,
                    if t.thread_ref.is_some() {
                        ""
                    } else {
                        " (pending)"
                    }
                )
            })
            .collect();
        s.push_str(&format!("\n  threads: {}", places.join(", ")));
    }
    let counts = &facts.counts;
    s.push_str(&format!(
        "\n  deliveries: {} sent, {} pending, {} failed",
        counts.sent, counts.pending, counts.failed
    ));
    if counts.summarised > 0 {
        s.push_str(&format!(
            ", {} summarised (a platform fell behind)",
            counts.summarised
        ));
    }
    for d in facts.failed.iter().take(10) {
        s.push_str(&format!(
            "\n    failed to {} {} after {} attempt(s): {}",
            d.new.platform,
            d.new.channel,
            d.attempts,
            d.last_error.as_deref().unwrap_or("unknown error")
        ));
    }
    let timers = &facts.timers;
    if !timers.is_empty() {
        s.push_str("\n  pending timers:");
        for t in timers {
            s.push_str(&format!(
                "\n    {} at {}",
                t.new.kind,
                local(cal, t.new.due_at)
            ));
        }
    }
    let timeline = &facts.timeline;
    let skip = timeline.len().saturating_sub(SHOWN_EVENTS);
    if skip == 0 {
        s.push_str("\n  timeline:");
    } else {
        s.push_str(&format!(
            "\n  timeline (the last {SHOWN_EVENTS} of {}):",
            timeline.len()
        ));
    }
    for ev in timeline.iter().skip(skip) {
        s.push_str(&format!("\n    {}", timeline_line(cal, ev)));
    }
    if skip > 0 {
        s.push_str(&format!(
            "\n    … {skip} earlier event{} not shown: !inc timeline {}",
            if skip == 1 { "" } else { "s" },
            inc.id
        ));
    }
    s
}

/// How many timeline events `show` lists (the latest).
pub const SHOWN_EVENTS: usize = 10;

/// One timeline event, as `show` and `timeline` list it.
fn timeline_line(cal: &BusinessCalendar, ev: &TimelineEvent) -> String {
    format!(
        "{} {} by {} ({} {}){}",
        local(cal, ev.at),
        ev.kind,
        ev.actor,
        ev.source.platform,
        ev.source.channel,
        if ev.detail.is_empty() {
            String::new()
        } else {
            format!(": {}", ev.detail)
        }
    )
}

/// The text of `!incident timeline`: every event, oldest first.
pub fn timeline(cal: &BusinessCalendar, inc: &Incident, events: &[TimelineEvent]) -> String {
    let mut s = format!(
        "{}: the whole timeline, {} event{}",
        headline(inc),
        events.len(),
        if events.len() == 1 { "" } else { "s" }
    );
    for ev in events {
        s.push_str(&format!("\n  {}", timeline_line(cal, ev)));
    }
    s
}
