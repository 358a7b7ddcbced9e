//! The chat commands, one file each, all with the same shape:
//! `handle(engine, ctx, buf, <the command's fields>) -> Result<Decision, EngineError>`.
//! `Engine::command` below is the dispatch table from the grammar (`domain::command`).
//!
//! A new command (say `!inc severity`, `severity.rs`) is a row in the grammar table in
//! `src/domain/command.rs`, a file here, and a line in the `match` below; a command that
//! changes an incident goes through `Engine::change` (`src/engine/change.rs`), and its words
//! go in `src/engine/render/`. Only a message's first line is the command; the grammar
//! row's `more_lines` says what the rest is, and unused lines are mentioned in a reply here.

mod ack;
mod apps;
mod commander;
mod help;
mod impact;
mod list;
mod oncall;
mod open;
mod publish;
mod reopen;
mod resolve;
mod severity;
mod show;
mod sla;
mod status;
mod timeline;
mod title;
mod update;

use super::{Ctx, Decision, Engine, EngineError, TxBuffer, render};
use crate::domain::command::{self, Command, MoreLines};

impl Engine {
    pub(super) async fn command(
        &self,
        ctx: &Ctx<'_>,
        cmd: Command,
        msg_id: i64,
        buf: &mut TxBuffer<'_>,
    ) -> Result<Decision, EngineError> {
        let name = cmd.name();
        if self.settings.responders_only.contains(name) && !ctx.actor.responder {
            let text = render::not_a_responder(name, &ctx.actor, ctx.ev);
            self.reply(ctx, buf, None, text).await?;
            return Ok(Decision::Refused);
        }
        // Informational answers wait behind what matters in their channel's queue.
        buf.bulk_replies =
            BULK_REPLIES.contains(&name) && !matches!(cmd, Command::Oncall { set: Some(_) });
        let decided = match cmd {
            Command::Open {
                title,
                severity,
                description,
            } => open::handle(self, ctx, buf, title, severity, description, msg_id).await,
            Command::Ack { incident } => ack::handle(self, ctx, buf, incident).await,
            Command::Update { incident, text } => {
                update::handle(self, ctx, buf, incident, text).await
            }
            Command::Status { incident, status } => {
                status::handle(self, ctx, buf, incident, status).await
            }
            Command::Severity { incident, severity } => {
                severity::handle(self, ctx, buf, incident, severity).await
            }
            Command::Title { incident, title } => {
                title::handle(self, ctx, buf, incident, title).await
            }
            Command::Commander { incident, person } => {
                commander::handle(self, ctx, buf, incident, person).await
            }
            Command::Apps { incident, apps } => apps::handle(self, ctx, buf, incident, apps).await,
            Command::Impact { incident, text } => {
                impact::handle(self, ctx, buf, incident, text).await
            }
            Command::Reopen { incident } => reopen::handle(self, ctx, buf, incident).await,
            Command::Resolve { incident, summary } => {
                resolve::handle(self, ctx, buf, incident, summary).await
            }
            Command::Show { incident } => show::handle(self, ctx, buf, incident).await,
            Command::Timeline { incident } => timeline::handle(self, ctx, buf, incident).await,
            Command::List { resolved } => list::handle(self, ctx, buf, resolved).await,
            Command::Sla { at } => sla::handle(self, ctx, buf, at).await,
            Command::Help { topic } => help::handle(self, ctx, buf, topic).await,
            Command::Oncall { set } => oncall::handle(self, ctx, buf, set).await,
            Command::Publish {
                incident,
                published,
            } => publish::handle(self, ctx, buf, incident, published).await,
        };
        buf.bulk_replies = false;
        let decision = decided?;
        let unused = command::more_lines(&ctx.ev.text);
        if unused > 0 && command::spec(name).is_some_and(|s| s.more_lines == MoreLines::Unused) {
            self.reply(ctx, buf, None, render::lines_not_used(name, unused))
                .await?;
        }
        Ok(decision)
    }
}

/// The commands whose replies are bulk (docs/architecture.md, "Delivery order").
const BULK_REPLIES: &[&str] = &["help", "show", "list", "sla", "oncall", "timeline"];
