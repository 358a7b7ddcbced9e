//! The application service: takes one inbound chat event, decides, and records the change,
//! the timeline, the outbox rows and the timers in ONE database transaction. It never touches
//! a socket; the clock is injected.
//!
//! Where things are:
//! - The rules are the domain's: whether `!inc ack` met the SLA is decided by
//!   `Incident::acknowledge` (src/domain/incident.rs), as are the status transitions and
//!   their refusals; timer and timeline kinds are `domain::timer` and `domain::timeline`.
//! - A new command goes in `commands/` (one file per command, dispatched in
//!   `commands/mod.rs`) plus a row in the grammar table in src/domain/command.rs. A command
//!   that changes an incident goes through `change.rs`: find, check, change, save, timeline,
//!   nudge, relay.
//! - Every chat text is in `render/`.
//! - `batch.rs` runs a burst of events in one transaction; `tx_buffer.rs` is what one
//!   transaction will write and has read; `known.rs` is what outlives transactions;
//!   `mirror.rs` is conversation in incident threads; `timers.rs` fires durable timers.

mod batch;
mod change;
mod commands;
mod dead_letter;
mod known;
mod mirror;
pub mod render;
mod storable;
pub mod timers;
mod tx_buffer;

pub use known::Guesses;
use known::Known;
pub(crate) use tx_buffer::TxBuffer;

use std::sync::Arc;

use crate::chat::{ChannelRole, Inbound, InboundKind, Style};
use crate::clock::SharedClock;
use crate::domain::command::{self, Parsed};
use crate::domain::incident::{IncidentId, Source};
use crate::domain::people::Actor;
use crate::store::{NewDelivery, SharedStore, StoreError};
use crate::wake::Wake;

pub use crate::domain::timer::{ACK_TIMERS, INCIDENT_TIMERS};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the engine decided for one event (for logs, tests and benchmarks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Ignored,
    /// A reply in a thread Flare does not know yet, while a thread root on that channel is
    /// still being sent: the caller should try the event again shortly.
    UnknownThread,
    Duplicate,
    Usage,
    Refused,
    Command(&'static str),
    Acknowledged(IncidentId),
    Mirrored(IncidentId),
    Edited,
    Deleted,
    ReactionNoticed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub decision: Decision,
    pub deliveries: usize,
}

/// Built once from the configuration, by the function that checks it (`crate::config`).
pub use crate::config::Settings;

pub struct Engine {
    store: SharedStore,
    clock: SharedClock,
    settings: Settings,
    /// Every channel of every connected platform, with its role.
    channels: Vec<ChannelRole>,
    wake: Arc<Wake>,
    /// Kept across transactions so hot paths skip a read: facts that never change once true
    /// (which incidents exist, which incident a platform thread belongs to, and an
    /// incident's threads once every root has been sent: rows are only ever added at open,
    /// and a root's id is set once), and incidents as last seen, which are checked.
    known: std::sync::Mutex<Known>,
    guesses: Guesses,
}

/// The inbound event, resolved: who, where, and which incident it is about.
struct Ctx<'a> {
    ev: &'a Inbound,
    actor: Actor,
    source: Source,
    /// The incident whose thread the message was written in, if any.
    thread_incident: Option<i64>,
}

impl Ctx<'_> {
    fn place(&self) -> String {
        format!("{} {}", self.ev.platform, self.ev.channel)
    }
}

impl Engine {
    pub fn new(
        store: SharedStore,
        clock: SharedClock,
        settings: Settings,
        channels: Vec<ChannelRole>,
        wake: Arc<Wake>,
    ) -> Engine {
        Engine {
            store,
            clock,
            settings,
            channels,
            wake,
            known: Default::default(),
            guesses: Guesses::default(),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    pub fn guesses(&self) -> &Guesses {
        &self.guesses
    }

    pub fn wake(&self) -> Arc<Wake> {
        self.wake.clone()
    }

    pub fn channels(&self) -> &[ChannelRole] {
        &self.channels
    }

    async fn decide(&self, ev: &Inbound, buf: &mut TxBuffer<'_>) -> Result<Decision, EngineError> {
        let actor =
            self.settings
                .directory
                .actor(&ev.platform, ev.kind, &ev.author.id, &ev.author.display);
        let source = Source {
            platform: ev.platform.clone(),
            channel: ev.channel.clone(),
            user: actor.key.clone(),
            message_id: ev.message_id.clone(),
        };
        let thread_incident = self.thread_incident(ev, buf).await?;
        let ctx = Ctx {
            ev,
            actor,
            source,
            thread_incident,
        };
        match &ev.event {
            InboundKind::Message => self.message(&ctx, buf).await,
            InboundKind::Edit => self.change_copies(&ctx, false, buf).await,
            InboundKind::Delete => self.change_copies(&ctx, true, buf).await,
            InboundKind::Reaction { .. } => self.reaction(&ctx, buf).await,
        }
    }

    async fn message(
        &self,
        ctx: &Ctx<'_>,
        buf: &mut TxBuffer<'_>,
    ) -> Result<Decision, EngineError> {
        let parsed = command::parse(&ctx.ev.text);
        if parsed == Parsed::NotACommand && ctx.thread_incident.is_none() {
            if ctx.ev.thread.is_some()
                && buf
                    .tx
                    .thread_root_in_flight(&ctx.ev.platform, &ctx.ev.channel)
                    .await?
            {
                return Ok(Decision::UnknownThread);
            }
            return Ok(Decision::Ignored);
        }
        if parsed == Parsed::NotACommand
            && buf.guess
            && let Some(decision) = self.mirror_unread(ctx, buf).await?
        {
            return Ok(decision);
        }
        let key = (
            ctx.ev.platform.clone(),
            ctx.ev.channel.clone(),
            ctx.ev.message_id.clone(),
        );
        let recorded = match buf.recorded.remove(&key) {
            Some(ahead) => ahead,
            None => {
                let m = Self::message_record(ctx.ev, ctx.thread_incident, buf.now);
                self.record_message(ctx, buf, &m).await?
            }
        };
        let Some(msg_id) = recorded else {
            return Ok(Decision::Duplicate);
        };
        match parsed {
            Parsed::NotACommand => self.thread_message(ctx, msg_id, buf).await,
            Parsed::Usage(text) => {
                self.reply(ctx, buf, None, text).await?;
                Ok(Decision::Usage)
            }
            Parsed::Command(cmd) => self.command(ctx, cmd, msg_id, buf).await,
        }
    }

    /// A reply to the person who wrote the event, where they wrote it.
    async fn reply(
        &self,
        ctx: &Ctx<'_>,
        buf: &mut TxBuffer<'_>,
        incident: Option<i64>,
        text: String,
    ) -> Result<(), StoreError> {
        let mut d = NewDelivery::to_channel(&ctx.ev.platform, &ctx.ev.channel, Style::Reply, text);
        d.thread_ref = ctx.ev.thread.clone();
        d.incident_id = incident.or(ctx.thread_incident);
        d.bulk = buf.bulk_replies;
        d.requester = Some(ctx.ev.author.id.clone());
        buf.push(d).await?;
        Ok(())
    }
}
