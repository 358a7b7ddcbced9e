//! `!incident list [resolved [since]]`: the open incidents, or the latest resolved ones.

use chrono::{DateTime, NaiveTime, Utc};

use super::super::{Ctx, Decision, Engine, EngineError, TxBuffer, render};
use crate::domain::command::Since;

/// The most resolved incidents one reply lists; the reply says how many more there are.
pub(crate) const RESOLVED_LIMIT: i64 = 20;

pub(super) async fn handle(
    e: &Engine,
    ctx: &Ctx<'_>,
    buf: &mut TxBuffer<'_>,
    resolved: Option<Since>,
) -> Result<Decision, EngineError> {
    let cal = &e.settings.calendar;
    let text = match resolved {
        None => render::list(cal, &buf.tx.open_incidents().await?),
        Some(since) => {
            let from = start(e, since, ctx.ev.sent_at);
            let (listed, total) = buf.tx.resolved_incidents(from, RESOLVED_LIMIT).await?;
            render::list_resolved(cal, from, &listed, total)
        }
    };
    e.reply(ctx, buf, None, text).await?;
    Ok(Decision::Command("list"))
}

/// A date is its local midnight in the calendar's zone; a span counts back from the message.
fn start(e: &Engine, since: Since, now: DateTime<Utc>) -> DateTime<Utc> {
    match since {
        Since::Ago(span) => now - span,
        Since::Date(d) => d
            .and_time(NaiveTime::MIN)
            .and_local_timezone(e.settings.calendar.zone())
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            // A zone whose midnight does not exist that day: the UTC midnight.
            .unwrap_or_else(|| d.and_time(NaiveTime::MIN).and_utc()),
    }
}
