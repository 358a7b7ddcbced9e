//! `!incident list`: the open incidents.

use super::super::{Ctx, Decision, Engine, EngineError, TxBuffer, render};

pub(super) async fn handle(
    e: &Engine,
    ctx: &Ctx<'_>,
    buf: &mut TxBuffer<'_>,
) -> Result<Decision, EngineError> {
    let open = buf.tx.open_incidents().await?;
    e.reply(ctx, buf, None, render::list(&e.settings.calendar, &open))
        .await?;
    Ok(Decision::Command("list"))
}
