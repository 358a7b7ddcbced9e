//! `!incident timeline [INC-n]`: the incident's whole timeline, in chat.

use super::super::{Ctx, Decision, Engine, EngineError, TxBuffer, render};
use crate::domain::incident::IncidentId;

pub(super) async fn handle(
    e: &Engine,
    ctx: &Ctx<'_>,
    buf: &mut TxBuffer<'_>,
    incident: Option<IncidentId>,
) -> Result<Decision, EngineError> {
    if let Some(inc) = e.target(ctx, incident, "timeline", buf).await? {
        let timeline = buf.tx.timeline(inc.id.0).await?;
        let text = render::timeline(&e.settings.calendar, &inc, &timeline);
        e.reply(ctx, buf, Some(inc.id.0), text).await?;
    }
    Ok(Decision::Command("timeline"))
}
