//! `!incident help [command]`: the text comes from the grammar table.

use super::super::{Ctx, Decision, Engine, EngineError, TxBuffer};
use crate::domain::command;

pub(super) async fn handle(
    e: &Engine,
    ctx: &Ctx<'_>,
    buf: &mut TxBuffer<'_>,
    topic: Option<String>,
) -> Result<Decision, EngineError> {
    e.reply(ctx, buf, None, command::help(topic.as_deref()))
        .await?;
    Ok(Decision::Command("help"))
}
