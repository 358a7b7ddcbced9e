//! `!incident show [INC-n]`: everything about one incident; the text is `render::show`.

use super::super::{Ctx, Decision, Engine, EngineError, TxBuffer, render};
use crate::domain::incident::IncidentId;

pub(super) async fn handle(
    e: &Engine,
    ctx: &Ctx<'_>,
    buf: &mut TxBuffer<'_>,
    incident: Option<IncidentId>,
) -> Result<Decision, EngineError> {
    if let Some(inc) = e.target(ctx, incident, "show", buf).await? {
        // The deliveries read below include this transaction's.
        buf.flush().await?;
        let id = inc.id.0;
        let facts = render::ShowFacts {
            threads: buf.tx.threads(id).await?,
            counts: buf.tx.delivery_counts(id).await?,
            failed: buf.tx.failed_deliveries(id).await?,
            timers: buf.tx.pending_timers(Some(id)).await?,
            timeline: buf.tx.timeline(id).await?,
        };
        let text = render::show(&e.settings.calendar, &inc, e.clock.now(), &facts);
        e.reply(ctx, buf, Some(id), text).await?;
    }
    Ok(Decision::Command("show"))
}
