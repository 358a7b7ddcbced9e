//! `!incident severity [INC-n] <sev>`: a timeline event, relayed everywhere; the update nudge
//! and (after the ack breach) the escalation path are re-planned for the new severity.

use super::super::change::{Change, decision};
use super::super::{Ctx, Decision, Engine, EngineError, TxBuffer, render};
use crate::domain::incident::{IncidentId, Severity};
use crate::domain::timeline::TimelineKind;

pub(super) async fn handle(
    e: &Engine,
    ctx: &Ctx<'_>,
    buf: &mut TxBuffer<'_>,
    incident: Option<IncidentId>,
    severity: Severity,
) -> Result<Decision, EngineError> {
    let Some(mut inc) = e.target(ctx, incident, "severity", buf).await? else {
        return Ok(Decision::Command("severity"));
    };
    let changed = e
        .change(ctx, &mut inc, buf, |inc| {
            let was = inc.set_severity(severity)?;
            let relay = render::severity_changed(inc, was, &ctx.actor.display);
            Ok(Change::new(
                TimelineKind::Severity,
                format!("{was} -> {severity}"),
                relay,
            ))
        })
        .await?;
    if changed {
        // The nudge interval is the severity's, counted from the last update.
        e.schedule_nudge(&inc, inc.last_update_at, buf).await?;
        e.replan_escalation(&inc, buf).await?;
    }
    Ok(decision("severity", changed))
}
