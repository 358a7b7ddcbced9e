//! `!incident status [INC-n] <status>`: statuses move forward only (the domain's rule);
//! `resolved` is the same as `!incident resolve`.

use super::super::change::{Change, decision};
use super::super::{Ctx, Decision, Engine, EngineError, TxBuffer, render};
use crate::domain::incident::{IncidentId, Status};
use crate::domain::timeline::TimelineKind;

pub(super) async fn handle(
    e: &Engine,
    ctx: &Ctx<'_>,
    buf: &mut TxBuffer<'_>,
    incident: Option<IncidentId>,
    status: Status,
) -> Result<Decision, EngineError> {
    let Some(mut inc) = e.target(ctx, incident, "status", buf).await? else {
        return Ok(Decision::Command("status"));
    };
    if status == Status::Resolved {
        let resolved = super::resolve::resolution(ctx, None);
        let changed = e.change(ctx, &mut inc, buf, resolved).await?;
        return Ok(decision("resolve", changed));
    }
    let changed = e
        .change(ctx, &mut inc, buf, |inc| {
            let was = inc.set_status(status, ctx.ev.sent_at)?;
            let relay = render::status_changed(inc, was, &ctx.actor.display);
            Ok(Change::new(TimelineKind::Status, format!("{was} -> {status}"), relay).nudging())
        })
        .await?;
    Ok(decision("status", changed))
}
