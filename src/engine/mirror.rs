//! Conversation in an incident's thread: mirrored to its other threads (the fast path that
//! records without reading first included), edits and deletions of mirrored messages, the
//! first reply that acknowledges, and reactions.

use std::sync::atomic::Ordering;

use super::{Ctx, Decision, Engine, EngineError, TxBuffer, render};
use crate::chat::Style;
use crate::domain::incident::{Incident, IncidentId, TimelineEvent};
use crate::domain::timeline::TimelineKind;
use crate::store::{MessageKey, NewDelivery, StoreError, ThreadRow};

impl Engine {
    /// Ordinary conversation in an incident's thread: maybe an acknowledgement, and mirrored to
    /// the incident's threads everywhere else.
    pub(super) async fn thread_message(
        &self,
        ctx: &Ctx<'_>,
        msg_id: i64,
        buf: &mut TxBuffer<'_>,
    ) -> Result<Decision, EngineError> {
        let Some(id) = ctx.thread_incident else {
            return Ok(Decision::Ignored);
        };
        let Some(mut inc) = buf.incident(id).await? else {
            return Ok(Decision::Ignored);
        };
        self.mirror(ctx, &inc, Some(msg_id), buf).await?;
        // `acknowledges` has checked what `Incident::acknowledge` would refuse.
        if self.acknowledges(ctx, &inc)
            && self
                .acknowledge(ctx, &mut inc, TimelineKind::AckFirstReply, buf)
                .await?
        {
            return Ok(Decision::Acknowledged(inc.id));
        }
        Ok(Decision::Mirrored(inc.id))
    }

    /// Whether this reply in the incident's thread acknowledges it.
    pub(super) fn acknowledges(&self, ctx: &Ctx<'_>, inc: &Incident) -> bool {
        self.settings.ack_on_first_reply && inc.awaits_ack() && inc.opened_by != ctx.actor.key
    }

    /// Conversation in the thread of an incident this engine knows (as it last committed it,
    /// with all its threads): recorded and mirrored without reading anything first, so the
    /// transaction is one round trip to the database, the one a person's line waits for.
    /// The transaction checks that the incident is unchanged and the message new; if either
    /// is not so it fails with `Conflict`, and the event is handled again the ordinary way.
    /// `None` when the event needs the ordinary way.
    pub(super) async fn mirror_unread(
        &self,
        ctx: &Ctx<'_>,
        buf: &mut TxBuffer<'_>,
    ) -> Result<Option<Decision>, EngineError> {
        let Some(id) = ctx.thread_incident else {
            return Ok(None);
        };
        let inc = {
            let known = self.known();
            match known.latest.get(&id) {
                Some(inc) if known.threads.contains_key(&id) => inc.clone(),
                _ => return Ok(None),
            }
        };
        if self.acknowledges(ctx, &inc) {
            return Ok(None);
        }
        self.guesses.taken.fetch_add(1, Ordering::Relaxed);
        buf.tx.expect_incident_version(id, inc.version).await?;
        let m = Self::message_record(ctx.ev, Some(id), buf.now);
        buf.tx.record_new_message(&m).await?;
        self.mirror(ctx, &inc, None, buf).await?;
        let decision = Decision::Mirrored(inc.id);
        buf.incidents.insert(id, inc);
        Ok(Some(decision))
    }

    pub(super) fn attribution(&self, ctx: &Ctx<'_>) -> String {
        self.settings
            .attribution
            .replace("{name}", &ctx.actor.display)
            .replace("{platform}", &ctx.ev.platform)
            .replace("{kind}", ctx.ev.kind.as_str())
    }

    pub(super) fn is_source_thread(ctx: &Ctx<'_>, t: &ThreadRow) -> bool {
        t.platform == ctx.ev.platform
            && (t.channel == ctx.ev.channel || t.thread_ref.as_deref() == Some(&ctx.ev.channel))
    }

    /// Queues a copy of the message for each of the incident's other threads; `msg_id` is the
    /// message's row id, or `None` for a message recorded in this transaction unread (the
    /// copies then name it by its key).
    pub(super) async fn mirror(
        &self,
        ctx: &Ctx<'_>,
        inc: &Incident,
        msg_id: Option<i64>,
        buf: &mut TxBuffer<'_>,
    ) -> Result<(), StoreError> {
        let author = self.attribution(ctx);
        for t in self.threads(buf, inc.id.0).await? {
            if Self::is_source_thread(ctx, &t) {
                continue;
            }
            let mut d = NewDelivery::to_channel(
                &t.platform,
                &t.channel,
                Style::Mirror,
                ctx.ev.text.clone(),
            );
            d.incident_id = Some(inc.id.0);
            d.in_thread = true;
            d.author = Some(author.clone());
            d.source_message = msg_id;
            if msg_id.is_none() {
                d.source_key = Some(MessageKey {
                    platform: ctx.ev.platform.clone(),
                    channel: ctx.ev.channel.clone(),
                    message_id: ctx.ev.message_id.clone(),
                });
            }
            buf.push(d).await?;
        }
        Ok(())
    }

    /// An edit or deletion of an inbound message: every mirrored copy is edited or deleted
    /// (adapters that cannot edit post `(edited) ...`).
    pub(super) async fn change_copies(
        &self,
        ctx: &Ctx<'_>,
        deleted: bool,
        buf: &mut TxBuffer<'_>,
    ) -> Result<Decision, EngineError> {
        let Some(m) = buf
            .tx
            .find_message(&ctx.ev.platform, &ctx.ev.channel, &ctx.ev.message_id)
            .await?
        else {
            return Ok(Decision::Ignored);
        };
        let author = self.attribution(ctx);
        buf.flush().await?;
        for copy in buf.tx.copies_of(m.id).await? {
            let mut d = copy.new.clone();
            if deleted {
                d.text = "(message deleted)".into();
                d.delete_of = Some(copy.id);
            } else {
                d.text = ctx.ev.text.clone();
                d.author = Some(author.clone());
                d.edit_of = Some(copy.id);
            }
            buf.push(d).await?;
        }
        if let Some(incident) = m.record.incident_id {
            let (kind, detail) = if deleted {
                (TimelineKind::MessageDeleted, String::new())
            } else {
                (TimelineKind::MessageEdited, ctx.ev.text.clone())
            };
            buf.tx
                .add_timeline(&TimelineEvent {
                    incident: IncidentId(incident),
                    at: ctx.ev.sent_at,
                    kind: kind.as_str().into(),
                    actor: ctx.actor.key.clone(),
                    source: ctx.source.clone(),
                    detail,
                })
                .await?;
        }
        Ok(if deleted {
            Decision::Deleted
        } else {
            Decision::Edited
        })
    }

    /// A reaction never acknowledges; say so to each person once per incident (the
    /// `reaction_notice` timeline entry, by that person, remembers it).
    pub(super) async fn reaction(
        &self,
        ctx: &Ctx<'_>,
        buf: &mut TxBuffer<'_>,
    ) -> Result<Decision, EngineError> {
        let Some(id) = ctx.thread_incident else {
            return Ok(Decision::Ignored);
        };
        let Some(inc) = buf.incident(id).await? else {
            return Ok(Decision::Ignored);
        };
        if !inc.awaits_ack()
            || buf
                .tx
                .has_timeline_by(id, TimelineKind::ReactionNotice.as_str(), &ctx.actor.key)
                .await?
        {
            return Ok(Decision::Ignored);
        }
        buf.tx
            .add_timeline(&TimelineEvent {
                incident: inc.id,
                at: ctx.ev.sent_at,
                kind: TimelineKind::ReactionNotice.as_str().into(),
                actor: ctx.actor.key.clone(),
                source: ctx.source.clone(),
                detail: "a reaction is not an acknowledgement".into(),
            })
            .await?;
        let mut d = NewDelivery::to_channel(
            &ctx.ev.platform,
            &ctx.ev.channel,
            Style::Reply,
            render::reaction_is_no_ack(&ctx.actor.display, inc.id),
        );
        d.incident_id = Some(id);
        d.in_thread = true;
        buf.push(d).await?;
        Ok(Decision::ReactionNoticed)
    }
}
