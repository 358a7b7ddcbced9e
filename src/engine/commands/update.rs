//! `!incident update [INC-n] <text>`: a status update, relayed everywhere.

use super::super::change::Change;
use super::super::{Ctx, Decision, Engine, EngineError, TxBuffer, render};
use crate::domain::incident::{Incident, IncidentId};
use crate::domain::timeline::TimelineKind;

pub(super) async fn handle(
    e: &Engine,
    ctx: &Ctx<'_>,
    buf: &mut TxBuffer<'_>,
    incident: Option<IncidentId>,
    text: String,
) -> Result<Decision, EngineError> {
    let change = |inc: &mut Incident| {
        inc.post_update(ctx.ev.sent_at);
        let relay = render::status_update(inc, &ctx.actor.display, &text);
        Ok(Change::new(TimelineKind::Update, text.as_str(), relay).nudging())
    };
    Ok(e.change_named(ctx, incident, "update", buf, change).await?)
}
