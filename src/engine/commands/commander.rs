//! `!incident commander [INC-n] <person>`: names the incident commander (by the people
//! directory's name when the person is in it).

use super::super::change::Change;
use super::super::{Ctx, Decision, Engine, EngineError, TxBuffer, render};
use crate::domain::incident::{Incident, IncidentId};
use crate::domain::timeline::TimelineKind;

pub(super) async fn handle(
    e: &Engine,
    ctx: &Ctx<'_>,
    buf: &mut TxBuffer<'_>,
    incident: Option<IncidentId>,
    person: String,
) -> Result<Decision, EngineError> {
    let name = match e.settings.directory.find(&person) {
        Some(p) => p.name.clone(),
        None => person,
    };
    let change = |inc: &mut Incident| {
        inc.name_commander(name.clone(), ctx.ev.sent_at)?;
        let relay = render::commander_named(inc, &name, &ctx.actor.display);
        Ok(Change::new(TimelineKind::Commander, name.as_str(), relay))
    };
    Ok(e.change_named(ctx, incident, "commander", buf, change)
        .await?)
}
