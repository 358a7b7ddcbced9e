//! `!incident resolve [INC-n] [summary]` (and `!incident status resolved`): every timer of
//! the incident ends.

use super::super::change::Change;
use super::super::{Ctx, Decision, Engine, EngineError, TxBuffer, render};
use crate::domain::incident::{Incident, IncidentId, TransitionError};
use crate::domain::timeline::TimelineKind;
use crate::domain::timer::INCIDENT_TIMERS;

pub(super) async fn handle(
    e: &Engine,
    ctx: &Ctx<'_>,
    buf: &mut TxBuffer<'_>,
    incident: Option<IncidentId>,
    summary: Option<String>,
) -> Result<Decision, EngineError> {
    let change = resolution(ctx, summary);
    Ok(e.change_named(ctx, incident, "resolve", buf, change)
        .await?)
}

/// The change that resolves an incident.
pub(super) fn resolution<'a>(
    ctx: &'a Ctx<'_>,
    summary: Option<String>,
) -> impl FnOnce(&mut Incident) -> Result<Change, TransitionError> + 'a {
    move |inc| {
        inc.resolve(ctx.ev.sent_at, summary.clone())?;
        let lasted = ctx.ev.sent_at - inc.started_at;
        let relay = render::resolved(inc, &ctx.actor.display, lasted, summary.as_deref());
        let detail = summary.unwrap_or_default();
        Ok(Change::new(TimelineKind::Resolved, detail, relay).ending(INCIDENT_TIMERS))
    }
}
