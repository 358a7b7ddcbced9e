//! `!incident impact [INC-n] <text>`: the business impact, in words.

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
        inc.business_impact = Some(text.clone());
        let relay = render::impact_set(inc, &text, &ctx.actor.display);
        Ok(Change::new(
            TimelineKind::BusinessImpact,
            text.as_str(),
            relay,
        ))
    };
    Ok(e.change_named(ctx, incident, "impact", buf, change).await?)
}
