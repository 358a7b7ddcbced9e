//! `!incident ack [INC-n]`: whether it met the SLA is the domain's call
//! (`Incident::acknowledge`).

use super::super::{Ctx, Decision, Engine, EngineError, TxBuffer};
use crate::domain::incident::IncidentId;
use crate::domain::timeline::TimelineKind;

pub(super) async fn handle(
    e: &Engine,
    ctx: &Ctx<'_>,
    buf: &mut TxBuffer<'_>,
    incident: Option<IncidentId>,
) -> Result<Decision, EngineError> {
    let Some(mut inc) = e.target(ctx, incident, "ack", buf).await? else {
        return Ok(Decision::Command("ack"));
    };
    Ok(
        if e.acknowledge(ctx, &mut inc, TimelineKind::Ack, buf).await? {
            Decision::Acknowledged(inc.id)
        } else {
            Decision::Refused
        },
    )
}
