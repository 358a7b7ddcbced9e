//! `!incident reopen INC-n`: a resolved incident goes back to `investigating`.

use super::super::change::Change;
use super::super::{Ctx, Decision, Engine, EngineError, TxBuffer, render};
use crate::domain::incident::{Incident, IncidentId};
use crate::domain::timeline::TimelineKind;

pub(super) async fn handle(
    e: &Engine,
    ctx: &Ctx<'_>,
    buf: &mut TxBuffer<'_>,
    incident: IncidentId,
) -> Result<Decision, EngineError> {
    let change = |inc: &mut Incident| {
        inc.reopen(ctx.ev.sent_at)?;
        let relay = render::reopened(inc, &ctx.actor.display);
        Ok(Change::new(TimelineKind::Reopened, "", relay).nudging())
    };
    Ok(e.change_named(ctx, Some(incident), "reopen", buf, change)
        .await?)
}
