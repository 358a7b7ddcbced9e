//! `!incident apps [INC-n] <app>, <app>...`: the applications the incident affects.

use super::super::change::Change;
use super::super::{Ctx, Decision, Engine, EngineError, TxBuffer, render};
use crate::domain::incident::{Incident, IncidentId};
use crate::domain::timeline::TimelineKind;

pub(super) async fn handle(
    e: &Engine,
    ctx: &Ctx<'_>,
    buf: &mut TxBuffer<'_>,
    incident: Option<IncidentId>,
    apps: Vec<String>,
) -> Result<Decision, EngineError> {
    let change = |inc: &mut Incident| {
        inc.impacted_apps = apps;
        let list = inc.impacted_apps.join(", ");
        let relay = render::apps_set(inc, &list, &ctx.actor.display);
        Ok(Change::new(TimelineKind::ImpactedApps, list, relay))
    };
    Ok(e.change_named(ctx, incident, "apps", buf, change).await?)
}
