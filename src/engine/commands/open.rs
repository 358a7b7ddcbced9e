//! `!incident open <title> [sev]`: the incident, a thread in every incident channel, the
//! announcement, the ack timers, and the lines after the command as its first update.

use chrono::Duration;

use super::super::{Ctx, Decision, Engine, EngineError, TxBuffer, render};
use crate::chat::Style;
use crate::domain::incident::{Incident, Severity};
use crate::domain::timeline::TimelineKind;
use crate::domain::timer::TimerKind;
use crate::store::{NewDelivery, NewIncident, NewTimer, StoreError, ThreadRow};

pub(super) async fn handle(
    e: &Engine,
    ctx: &Ctx<'_>,
    buf: &mut TxBuffer<'_>,
    title: String,
    severity: Severity,
    description: Option<String>,
    msg_id: i64,
) -> Result<Decision, EngineError> {
    let started_at = ctx.ev.sent_at;
    let sla = e.settings.sla.assess(&e.settings.calendar, started_at);
    let inc = buf
        .tx
        .insert_incident(&NewIncident {
            title,
            severity,
            opened_by: ctx.actor.key.clone(),
            opened_platform: ctx.ev.platform.clone(),
            opened_channel: ctx.ev.channel.clone(),
            started_at,
            sla_class: sla.class.as_str().to_string(),
            sla_window_secs: sla.window.num_seconds(),
            ack_deadline: sla.deadline,
            published: e.settings.publish.publishes(severity),
        })
        .await?;
    buf.tx.set_message_incident(msg_id, inc.id.0).await?;
    buf.opened.push(inc.id.0);
    e.timeline(
        buf,
        &inc,
        ctx,
        TimelineKind::Opened,
        &render::opened_detail(&sla),
    )
    .await?;
    let root = render::thread_root(&e.settings.calendar, &inc, &ctx.actor.display, &ctx.place());
    let mut places = Vec::new();
    let mut source_has_thread = false;
    for ch in e.channels.iter().filter(|c| c.incident) {
        let mut d =
            NewDelivery::to_channel(&ch.platform, &ch.channel, Style::ThreadRoot, root.clone());
        d.incident_id = Some(inc.id.0);
        let root_id = buf.push_now(d).await?;
        buf.insert_thread(&ThreadRow {
            incident_id: inc.id.0,
            platform: ch.platform.clone(),
            channel: ch.channel.clone(),
            root_delivery_id: Some(root_id),
            thread_ref: None,
        })
        .await?;
        places.push(format!("{} {}", ch.platform, ch.channel));
        source_has_thread |= ch.platform == ctx.ev.platform && ch.channel == ctx.ev.channel;
    }
    for ch in e.channels.iter().filter(|c| c.announce && !c.incident) {
        let text = render::opened_announcement(&inc, &ctx.actor.display, &places);
        let mut d = NewDelivery::to_channel(&ch.platform, &ch.channel, Style::Announcement, text);
        d.incident_id = Some(inc.id.0);
        buf.push(d).await?;
    }
    schedule_ack_timers(e, &inc, buf).await?;
    // The lines after the command: the first update, recorded and relayed as one.
    let described = match &description {
        Some(text) => {
            e.timeline(buf, &inc, ctx, TimelineKind::Update, text)
                .await?;
            let relay = render::status_update(&inc, &ctx.actor.display, text);
            e.relay(&inc, relay, buf).await?;
            text.lines().filter(|l| !l.trim().is_empty()).count()
        }
        None => 0,
    };
    let text = render::opened_reply(&e.settings.calendar, &inc, &places, described);
    let mut d = NewDelivery::to_channel(&ctx.ev.platform, &ctx.ev.channel, Style::Reply, text);
    d.incident_id = Some(inc.id.0);
    if source_has_thread {
        d.in_thread = true;
    } else {
        d.thread_ref = ctx.ev.thread.clone();
    }
    buf.push(d).await?;
    Ok(Decision::Command("open"))
}

/// The ack reminders, the breach and (for a new incident) the update nudge, in one
/// statement.
async fn schedule_ack_timers(
    e: &Engine,
    inc: &Incident,
    buf: &mut TxBuffer<'_>,
) -> Result<(), StoreError> {
    let window = Duration::seconds(inc.sla_window_secs);
    let timer = |kind: TimerKind, due_at| NewTimer {
        incident_id: Some(inc.id.0),
        kind: kind.as_str().into(),
        due_at,
        payload: String::new(),
    };
    let mut timers: Vec<NewTimer> = e
        .settings
        .reminders
        .iter()
        .filter_map(|offset| offset.within(window))
        .map(|d| timer(TimerKind::AckReminder, inc.started_at + d))
        .collect();
    timers.push(timer(TimerKind::AckBreach, inc.ack_deadline));
    if let Some(after) = e.settings.paging.nudge_after(inc.severity) {
        timers.push(timer(TimerKind::UpdateNudge, inc.started_at + after));
    }
    buf.tx.add_timers(&timers).await?;
    if let Some(first) = timers.iter().map(|t| t.due_at).min() {
        buf.timer_at(first);
    }
    Ok(())
}
