//! `!incident sla [<time>]`: which SLA applies now, or at a given time.

use chrono::{DateTime, Utc};

use super::super::{Ctx, Decision, Engine, EngineError, TxBuffer, render};

pub(super) async fn handle(
    e: &Engine,
    ctx: &Ctx<'_>,
    buf: &mut TxBuffer<'_>,
    at: Option<String>,
) -> Result<Decision, EngineError> {
    let text = match at {
        None => sla_text(e, e.clock.now()),
        Some(s) => match DateTime::parse_from_rfc3339(&s) {
            Ok(t) => sla_text(e, t.with_timezone(&Utc)),
            Err(_) => render::not_a_time(&s),
        },
    };
    e.reply(ctx, buf, None, text).await?;
    Ok(Decision::Command("sla"))
}

fn sla_text(e: &Engine, at: DateTime<Utc>) -> String {
    e.settings
        .sla
        .assess(&e.settings.calendar, at)
        .describe(&e.settings.calendar, at)
}
