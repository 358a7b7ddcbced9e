//! The one path by which a command changes an incident: find it, let the domain check and
//! change it, save it, end the timers it ends, add the timeline event, re-plan the update
//! nudge, and relay the news to every thread and announcement channel.

use super::{Ctx, Decision, Engine, TxBuffer, render};
use crate::chat::Style;
use crate::domain::command;
use crate::domain::incident::{Incident, IncidentId, TimelineEvent, TransitionError};
use crate::domain::timeline::TimelineKind;
use crate::domain::timer::ACK_TIMERS;
use crate::store::{NewDelivery, StoreError};

/// A change the domain allowed, and what to record and say about it.
pub(super) struct Change {
    pub kind: TimelineKind,
    pub detail: String,
    /// Re-plan the "no status update" nudge from this change.
    pub nudge: bool,
    /// Timer kinds (as stored) the change ends.
    pub cancel: &'static [&'static str],
    /// What the incident's threads and the announcement channels are told.
    pub relay: String,
}

impl Change {
    /// A change recorded and relayed, that neither ends timers nor re-plans the nudge.
    pub fn new(kind: TimelineKind, detail: impl Into<String>, relay: String) -> Change {
        Change {
            kind,
            detail: detail.into(),
            nudge: false,
            cancel: &[],
            relay,
        }
    }

    pub fn nudging(mut self) -> Change {
        self.nudge = true;
        self
    }

    pub fn ending(mut self, timers: &'static [&'static str]) -> Change {
        self.cancel = timers;
        self
    }
}

/// What a command decided: `name` done, or refused by the domain.
pub(super) fn decision(name: &'static str, changed: bool) -> Decision {
    if changed {
        Decision::Command(name)
    } else {
        Decision::Refused
    }
}

impl Engine {
    /// `!incident <name> [INC-n] ...`: finds the incident (named, or the thread's) and
    /// applies `change` to it.
    pub(super) async fn change_named(
        &self,
        ctx: &Ctx<'_>,
        named: Option<IncidentId>,
        name: &'static str,
        buf: &mut TxBuffer<'_>,
        change: impl FnOnce(&mut Incident) -> Result<Change, TransitionError>,
    ) -> Result<Decision, StoreError> {
        let Some(mut inc) = self.target(ctx, named, name, buf).await? else {
            return Ok(Decision::Command(name));
        };
        let changed = self.change(ctx, &mut inc, buf, change).await?;
        Ok(decision(name, changed))
    }

    /// Applies `change` to `inc`. When the domain refuses, the refusal is the reply and
    /// nothing is recorded; returns whether the change was made.
    pub(super) async fn change(
        &self,
        ctx: &Ctx<'_>,
        inc: &mut Incident,
        buf: &mut TxBuffer<'_>,
        change: impl FnOnce(&mut Incident) -> Result<Change, TransitionError>,
    ) -> Result<bool, StoreError> {
        let c = match change(inc) {
            Ok(c) => c,
            Err(refused) => {
                self.reply(ctx, buf, Some(inc.id.0), refused.to_string())
                    .await?;
                return Ok(false);
            }
        };
        buf.save_incident(inc).await?;
        if !c.cancel.is_empty() {
            buf.tx.cancel_timers(inc.id.0, c.cancel).await?;
        }
        self.timeline(buf, inc, ctx, c.kind, &c.detail).await?;
        if c.nudge {
            self.schedule_nudge(inc, ctx.ev.sent_at, buf).await?;
        }
        self.relay(inc, c.relay, buf).await?;
        Ok(true)
    }

    /// An acknowledgement (`!inc ack`, or the first reply): the domain decides whether it
    /// met the SLA, and the ack timers end.
    pub(super) async fn acknowledge(
        &self,
        ctx: &Ctx<'_>,
        inc: &mut Incident,
        kind: TimelineKind,
        buf: &mut TxBuffer<'_>,
    ) -> Result<bool, StoreError> {
        let cal = &self.settings.calendar;
        let done = self
            .change(ctx, inc, buf, |inc| {
                let met =
                    inc.acknowledge(ctx.ev.sent_at, &ctx.actor.display, ctx.place(), cal.zone())?;
                let relay = render::acknowledged(cal, inc, &ctx.actor.display, &ctx.place());
                Ok(Change::new(kind, render::sla_outcome(met), relay).ending(ACK_TIMERS))
            })
            .await?;
        if done {
            let at = ctx.ev.sent_at;
            let met = matches!(
                inc.ack_outcome(at),
                crate::domain::sla::SlaOutcome::Met { .. }
            );
            buf.acked.push((met, at - inc.started_at));
        }
        Ok(done)
    }

    /// The incident a command is about: named, or the thread's. Replies when there is none.
    pub(super) async fn target(
        &self,
        ctx: &Ctx<'_>,
        named: Option<IncidentId>,
        cmd: &str,
        buf: &mut TxBuffer<'_>,
    ) -> Result<Option<Incident>, StoreError> {
        let id = match named.map(|i| i.0).or(ctx.thread_incident) {
            Some(id) => id,
            None => {
                let usage = command::spec(cmd).map(|s| s.usage()).unwrap_or_default();
                self.reply(ctx, buf, None, render::which_incident(&usage))
                    .await?;
                return Ok(None);
            }
        };
        match buf.incident(id).await? {
            Some(inc) => Ok(Some(inc)),
            None => {
                self.reply(ctx, buf, None, render::no_incident(IncidentId(id)))
                    .await?;
                Ok(None)
            }
        }
    }

    /// A timeline event by the person who wrote the event.
    pub(super) async fn timeline(
        &self,
        buf: &mut TxBuffer<'_>,
        inc: &Incident,
        ctx: &Ctx<'_>,
        kind: TimelineKind,
        detail: &str,
    ) -> Result<(), StoreError> {
        buf.tx
            .add_timeline(&TimelineEvent {
                incident: inc.id,
                at: ctx.ev.sent_at,
                kind: kind.as_str().to_string(),
                actor: ctx.actor.key.clone(),
                source: ctx.source.clone(),
                detail: detail.to_string(),
            })
            .await
    }

    /// A status message to every thread of the incident and every announcement channel.
    pub(super) async fn relay(
        &self,
        inc: &Incident,
        text: String,
        buf: &mut TxBuffer<'_>,
    ) -> Result<(), StoreError> {
        self.relay_as(inc, text, Style::StatusUpdate, &[], buf)
            .await
    }

    /// Like `relay`, with a style and people to mention (each platform gets their identity
    /// there; someone without one is named in the text only, and logged).
    pub(crate) async fn relay_as(
        &self,
        inc: &Incident,
        text: String,
        style: Style,
        ping: &[String],
        buf: &mut TxBuffer<'_>,
    ) -> Result<(), StoreError> {
        for t in self.threads(buf, inc.id.0).await? {
            let mut d = NewDelivery::to_channel(&t.platform, &t.channel, style, text.clone());
            d.incident_id = Some(inc.id.0);
            d.in_thread = true;
            if let Some(kind) = self.kind_of(&t.platform) {
                for name in ping {
                    match self
                        .settings
                        .directory
                        .find(name)
                        .and_then(|p| p.identity(kind))
                    {
                        Some(id) => d.mentions.push(id.to_string()),
                        None => {
                            tracing::info!(person = %name, platform = %t.platform, "no identity to ping on this platform")
                        }
                    }
                }
            }
            buf.push(d).await?;
        }
        for ch in self.channels.iter().filter(|c| c.announce && !c.incident) {
            let mut d = NewDelivery::to_channel(
                &ch.platform,
                &ch.channel,
                Style::Announcement,
                text.clone(),
            );
            d.incident_id = Some(inc.id.0);
            buf.push(d).await?;
        }
        Ok(())
    }

    pub(crate) fn kind_of(&self, platform: &str) -> Option<crate::chat::PlatformKind> {
        self.channels
            .iter()
            .find(|c| c.platform == platform)
            .map(|c| c.kind)
    }
}
