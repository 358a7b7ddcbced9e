//! `!incident publish [INC-n]` / `!incident unpublish [INC-n]`: put the incident on the
//! public status page or take it off (overriding `[status_page] publish`).

use super::super::change::{Change, decision};
use super::super::{Ctx, Decision, Engine, EngineError, TxBuffer, render};
use crate::domain::incident::IncidentId;
use crate::domain::status_page::set_published;
use crate::domain::timeline::TimelineKind;

pub(super) async fn handle(
    e: &Engine,
    ctx: &Ctx<'_>,
    buf: &mut TxBuffer<'_>,
    incident: Option<IncidentId>,
    published: bool,
) -> Result<Decision, EngineError> {
    let name = if published { "publish" } else { "unpublish" };
    let Some(mut inc) = e.target(ctx, incident, name, buf).await? else {
        return Ok(Decision::Command(name));
    };
    // Already so: the refusal is the reply and nothing is recorded.
    let mut probe = inc.clone();
    if let Err(refused) = set_published(&mut probe, published) {
        e.reply(ctx, buf, Some(inc.id.0), refused.to_string())
            .await?;
        return Ok(Decision::Refused);
    }
    let changed = e
        .change(ctx, &mut inc, buf, |inc| {
            inc.published = published;
            let relay = render::publication_set(inc, &ctx.actor.display);
            let kind = if published {
                TimelineKind::Published
            } else {
                TimelineKind::Unpublished
            };
            Ok(Change::new(kind, "", relay))
        })
        .await?;
    Ok(decision(name, changed))
}
