//! `flare export INC-n --format markdown|json`: one incident's whole record (its fields, the
//! acknowledgement with its SLA outcome, every timeline event), times in UTC and in the
//! calendar's zone. The JSON is stable: fields are only ever added (docs/export.md).

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::Serialize;

use super::{class_label, local, sla_outcome};
use crate::chat::text::neutralise_controls;
use crate::domain::calendar::BusinessCalendar;
use crate::domain::incident::{Incident, TimelineEvent};
use crate::domain::sla::{SlaOutcome, human_duration};

/// Names the JSON layout; a change that is not an addition gets a new name.
pub const JSON_FORMAT: &str = "flare.incident.v1";

/// An instant as RFC 3339 in UTC and in the calendar's zone.
#[derive(Serialize)]
pub struct Instant {
    pub utc: String,
    pub local: String,
}

impl Instant {
    fn new(cal: &BusinessCalendar, t: DateTime<Utc>) -> Instant {
        Instant {
            utc: t.to_rfc3339_opts(SecondsFormat::Secs, true),
            local: t
                .with_timezone(&cal.zone())
                .to_rfc3339_opts(SecondsFormat::Secs, false),
        }
    }
}

#[derive(Serialize)]
pub struct Sla {
    pub class: String,
    pub window_secs: i64,
    pub ack_deadline: Instant,
}

#[derive(Serialize)]
pub struct Acknowledgement {
    pub by: String,
    #[serde(rename = "where")]
    pub place: String,
    pub at: Instant,
    /// `met` or `breached`.
    pub sla: &'static str,
    /// Seconds to spare (positive) or late (negative).
    pub margin_secs: i64,
}

#[derive(Serialize)]
pub struct Event {
    pub at: Instant,
    pub kind: String,
    pub actor: String,
    pub platform: String,
    pub channel: String,
    pub message_id: String,
    pub detail: String,
}

/// The JSON document, fields in this order.
#[derive(Serialize)]
pub struct Record {
    pub format: &'static str,
    pub id: String,
    pub number: i64,
    pub title: String,
    pub severity: &'static str,
    pub status: &'static str,
    pub commander: Option<String>,
    pub impacted_apps: Vec<String>,
    pub business_impact: Option<String>,
    pub opened_by: String,
    pub opened_in: String,
    pub time_zone: String,
    pub started_at: Instant,
    pub sla: Sla,
    pub acknowledgements: Vec<Acknowledgement>,
    pub resolved_at: Option<Instant>,
    pub resolution: Option<String>,
    pub timeline: Vec<Event>,
}

pub fn record(cal: &BusinessCalendar, inc: &Incident, timeline: &[TimelineEvent]) -> Record {
    let acknowledgements = match (inc.acknowledged_at, &inc.acknowledged_by) {
        (Some(at), Some(by)) => {
            let (sla, margin) = match inc.ack_outcome(at) {
                SlaOutcome::Met { margin } => ("met", margin),
                SlaOutcome::Breached { by } => ("breached", -by),
            };
            vec![Acknowledgement {
                by: by.clone(),
                place: inc.acknowledged_where.clone().unwrap_or_default(),
                at: Instant::new(cal, at),
                sla,
                margin_secs: margin.num_seconds(),
            }]
        }
        _ => Vec::new(),
    };
    Record {
        format: JSON_FORMAT,
        id: inc.id.to_string(),
        number: inc.id.0,
        title: inc.title.clone(),
        severity: inc.severity.as_str(),
        status: inc.status.as_str(),
        commander: inc.commander.clone(),
        impacted_apps: inc.impacted_apps.clone(),
        business_impact: inc.business_impact.clone(),
        opened_by: inc.opened_by.clone(),
        opened_in: format!("{} {}", inc.opened_platform, inc.opened_channel),
        time_zone: cal.zone().name().to_string(),
        started_at: Instant::new(cal, inc.started_at),
        sla: Sla {
            class: inc.sla_class.clone(),
            window_secs: inc.sla_window_secs,
            ack_deadline: Instant::new(cal, inc.ack_deadline),
        },
        acknowledgements,
        resolved_at: inc.resolved_at.map(|t| Instant::new(cal, t)),
        resolution: inc.resolution.clone(),
        timeline: timeline
            .iter()
            .map(|e| Event {
                at: Instant::new(cal, e.at),
                kind: e.kind.clone(),
                actor: e.actor.clone(),
                platform: e.source.platform.clone(),
                channel: e.source.channel.clone(),
                message_id: e.source.message_id.clone(),
                detail: e.detail.clone(),
            })
            .collect(),
    }
}

/// The record as one pretty-printed JSON object.
pub fn json(cal: &BusinessCalendar, inc: &Incident, timeline: &[TimelineEvent]) -> String {
    serde_json::to_string_pretty(&record(cal, inc, timeline))
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// People's text in a Markdown table cell or line: controls made harmless, and nothing that
/// would end the cell or the line.
fn cell(text: &str) -> String {
    neutralise_controls(text)
        .replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('\n', "<br>")
}

fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The record as Markdown, for a post-incident review.
pub fn markdown(cal: &BusinessCalendar, inc: &Incident, timeline: &[TimelineEvent]) -> String {
    let zone = cal.zone().name();
    let mut s = format!("# {}: {}\n\n| | |\n|---|---|\n", inc.id, cell(&inc.title));
    let mut row = |k: &str, v: String| s.push_str(&format!("| {k} | {v} |\n"));
    row(
        "severity",
        format!("{} ({})", inc.severity, inc.severity.describe()),
    );
    row("status", inc.status.to_string());
    row(
        "commander",
        inc.commander.as_deref().map(cell).unwrap_or("none".into()),
    );
    if !inc.impacted_apps.is_empty() {
        row("impacted applications", cell(&inc.impacted_apps.join(", ")));
    }
    if let Some(b) = &inc.business_impact {
        row("business impact", cell(b));
    }
    row(
        "opened",
        format!(
            "by {} in {} {} at {} ({})",
            cell(&inc.opened_by),
            cell(&inc.opened_platform),
            cell(&inc.opened_channel),
            local(cal, inc.started_at),
            utc(inc.started_at)
        ),
    );
    row(
        "ack SLA",
        format!(
            "{} ({}), deadline {} ({})",
            human_duration(Duration::seconds(inc.sla_window_secs)),
            class_label(&inc.sla_class),
            local(cal, inc.ack_deadline),
            utc(inc.ack_deadline)
        ),
    );
    if let Some(at) = inc.resolved_at {
        row(
            "resolved",
            format!(
                "{} ({}){}",
                local(cal, at),
                utc(at),
                inc.resolution
                    .as_deref()
                    .map(|r| format!(": {}", cell(r)))
                    .unwrap_or_default()
            ),
        );
    }
    s.push_str("\n## Acknowledgement\n\n");
    match (inc.acknowledged_at, &inc.acknowledged_by) {
        (Some(at), Some(by)) => s.push_str(&format!(
            "- {} in {} at {} ({}): {}\n",
            cell(by),
            cell(inc.acknowledged_where.as_deref().unwrap_or("?")),
            local(cal, at),
            utc(at),
            sla_outcome(inc.ack_outcome(at))
        )),
        _ => s.push_str("Not acknowledged.\n"),
    }
    s.push_str(&format!(
        "\n## Timeline\n\n{} event{}, times in UTC and in {zone}.\n\n| UTC | {zone} | event | by | where | detail |\n|---|---|---|---|---|---|\n",
        timeline.len(),
        if timeline.len() == 1 { "" } else { "s" }
    ));
    for e in timeline {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} {} | {} |\n",
            utc(e.at),
            local(cal, e.at),
            cell(&e.kind),
            cell(&e.actor),
            cell(&e.source.platform),
            cell(&e.source.channel),
            cell(&e.detail)
        ));
    }
    s
}
