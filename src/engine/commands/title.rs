//! `!incident title [INC-n] <title>`: renames the incident (threads are keyed by its number,
//! so they stay); the old title is the timeline entry's detail.

use super::super::change::Change;
use super::super::{Ctx, Decision, Engine, EngineError, TxBuffer, render};
use crate::domain::incident::{Incident, IncidentId};
use crate::domain::timeline::TimelineKind;

pub(super) async fn handle(
    e: &Engine,
    ctx: &Ctx<'_>,
    buf: &mut TxBuffer<'_>,
    incident: Option<IncidentId>,
    title: String,
) -> Result<Decision, EngineError> {
    let change = |inc: &mut Incident| {
        let was = inc.set_title(title.clone())?;
        let relay = render::title_changed(inc, &was, &ctx.actor.display);
        Ok(Change::new(TimelineKind::Title, was, relay))
    };
    Ok(e.change_named(ctx, incident, "title", buf, change).await?)
}
