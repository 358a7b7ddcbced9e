//! The application service: takes one inbound chat event, decides, and records the change,
//! the timeline, the outbox rows and the timers in ONE database transaction. It never touches
//! a socket; the clock is injected.

pub mod render;
pub mod timers;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, Utc};

use crate::chat::{ChannelRole, Inbound, InboundKind, Style};
use crate::clock::SharedClock;
use crate::config::{Config, Problem};
use crate::delivery::Wake;
use crate::domain::calendar::BusinessCalendar;
use crate::domain::command::{self, Command, Parsed};
use crate::domain::incident::{
    Incident, IncidentId, Source, Status, TimelineEvent, TransitionError, check_reopen,
    check_transition,
};
use crate::domain::people::{Actor, Directory};
use crate::domain::reminder::Offset;
use crate::domain::sla::SlaPolicy;
use crate::domain::timeline::TimelineKind;
use crate::domain::timer::TimerKind;
use crate::store::{
    Delivery, DeliveryStatus, MessageKey, NewDelivery, NewIncident, NewTimer, SharedStore,
    StoreError, ThreadRow, Tx,
};

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

/// Settings the engine needs, built once from the configuration.
pub struct Settings {
    pub calendar: BusinessCalendar,
    pub sla: SlaPolicy,
    pub reminders: Vec<Offset>,
    pub ack_on_first_reply: bool,
    pub responders_only: HashSet<String>,
    pub attribution: String,
    pub directory: Directory,
    /// Rotations, escalation paths, nudges and announcements (see `timers`).
    pub paging: crate::domain::paging::Paging,
}

impl Settings {
    pub fn from_config(c: &Config) -> Result<Settings, Vec<Problem>> {
        let calendar = BusinessCalendar::from_config(&c.calendar)?;
        let sla = SlaPolicy::from_config(&c.sla)?;
        let reminders = c
            .sla
            .reminders
            .iter()
            .enumerate()
            .map(|(i, r)| {
                Offset::parse(r).map_err(|reason| {
                    vec![Problem {
                        key: format!("sla.reminders[{i}]"),
                        reason,
                    }]
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Settings {
            calendar,
            sla,
            reminders,
            ack_on_first_reply: c.sla.ack_on_first_reply,
            responders_only: c.commands.responders_only.iter().cloned().collect(),
            attribution: c.mirror.attribution.clone(),
            directory: Directory::from_config(&c.people),
            paging: crate::domain::paging::Paging::from_config(c)?,
        })
    }
}

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

/// How often a transaction went on `Known` incidents unread, and how often that guess was
/// stale (the transaction failed and was done again the ordinary way).
#[derive(Debug, Default)]
pub struct Guesses {
    pub taken: AtomicU64,
    pub stale: AtomicU64,
}

#[derive(Default)]
struct Known {
    /// Incidents that exist (none is ever deleted).
    incidents: HashSet<i64>,
    thread_incident: HashMap<(String, String, String), i64>,
    threads: HashMap<i64, Vec<ThreadRow>>,
    /// Incidents as this engine last committed or read them: a guess that a transaction
    /// checks (`expect_incident_version`) instead of reading the incident first.
    latest: HashMap<i64, Incident>,
}

/// Past this many entries a cache of `Known` starts over (they are only shortcuts).
const KNOWN_MAX: usize = 10_000;

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

/// Collects what one transaction will send, and what it has already read.
///
/// Outbox rows are buffered and written in a few multi-row statements before commit (every
/// statement is a round trip to the database driver). Incidents and thread lists read in the
/// transaction are kept for its rest: the rows are locked for it (`FOR UPDATE` on PostgreSQL,
/// the write lock on SQLite), so they cannot change underneath.
pub(crate) struct Outbox<'t> {
    pub(crate) tx: &'t mut Box<dyn Tx>,
    pub(crate) now: DateTime<Utc>,
    pub(crate) platforms: HashSet<String>,
    pub(crate) count: usize,
    /// The earliest timer this transaction added or moved.
    pub(crate) earliest_timer: Option<DateTime<Utc>>,
    queued: Vec<NewDelivery>,
    /// The outbox rows written so far, in the order they were written (their ids come back
    /// from the commit in the same order).
    written: Vec<NewDelivery>,
    incidents: HashMap<i64, Incident>,
    threads: HashMap<i64, Vec<ThreadRow>>,
    /// Messages of a batch recorded ahead, by (platform, channel, message id): the id, or
    /// `None` for a duplicate. Taken by each event as it is handled.
    recorded: HashMap<(String, String, String), Option<i64>>,
    /// Incidents this transaction opened (known to exist once it commits).
    pub(crate) opened: Vec<i64>,
    /// The transaction may go on `Known` incidents unread (`Engine::mirror_unread`).
    guess: bool,
}

impl<'t> Outbox<'t> {
    pub(crate) fn new(tx: &'t mut Box<dyn Tx>, now: DateTime<Utc>) -> Self {
        Outbox {
            tx,
            now,
            platforms: HashSet::new(),
            count: 0,
            earliest_timer: None,
            queued: Vec::new(),
            written: Vec::new(),
            incidents: HashMap::new(),
            threads: HashMap::new(),
            recorded: HashMap::new(),
            opened: Vec::new(),
            guess: false,
        }
    }

    pub(crate) fn timer_at(&mut self, due: DateTime<Utc>) {
        self.earliest_timer = Some(self.earliest_timer.map_or(due, |e| e.min(due)));
    }

    /// Queues an outbox row; it is written, in order, by `flush` (at the latest before commit).
    pub(crate) async fn push(&mut self, d: NewDelivery) -> Result<(), StoreError> {
        self.platforms.insert(d.platform.clone());
        self.count += 1;
        self.queued.push(d);
        Ok(())
    }

    /// Writes an outbox row now (after the queued ones, so ids keep their order) and returns
    /// its id.
    pub(crate) async fn push_now(&mut self, d: NewDelivery) -> Result<i64, StoreError> {
        self.flush().await?;
        let id = self.tx.enqueue(&d, self.now).await?;
        self.platforms.insert(d.platform.clone());
        self.count += 1;
        self.written.push(d);
        Ok(id)
    }

    /// Writes the queued outbox rows. Called before anything reads deliveries, and at commit.
    pub(crate) async fn flush(&mut self) -> Result<(), StoreError> {
        if !self.queued.is_empty() {
            let rows = std::mem::take(&mut self.queued);
            self.tx.enqueue_many(&rows, self.now).await?;
            self.written.extend(rows);
        }
        Ok(())
    }

    /// The incident, read once per transaction (locked for it where the backend has row locks).
    pub(crate) async fn incident(&mut self, id: i64) -> Result<Option<Incident>, StoreError> {
        if let Some(inc) = self.incidents.get(&id) {
            return Ok(Some(inc.clone()));
        }
        let inc = self.tx.incident(id).await?;
        if let Some(i) = &inc {
            self.incidents.insert(id, i.clone());
        }
        Ok(inc)
    }

    pub(crate) async fn save_incident(&mut self, inc: &mut Incident) -> Result<(), StoreError> {
        self.tx.save_incident(inc).await?;
        self.incidents.insert(inc.id.0, inc.clone());
        Ok(())
    }

    /// The incident's threads, read once per transaction.
    pub(crate) async fn threads(&mut self, incident: i64) -> Result<Vec<ThreadRow>, StoreError> {
        if let Some(t) = self.threads.get(&incident) {
            return Ok(t.clone());
        }
        let t = self.tx.threads(incident).await?;
        self.threads.insert(incident, t.clone());
        Ok(t)
    }

    pub(crate) async fn insert_thread(&mut self, t: &ThreadRow) -> Result<(), StoreError> {
        self.threads.remove(&t.incident_id);
        self.tx.insert_thread(t).await
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

    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The incident's threads (from `Known` once they are all sent).
    async fn threads(
        &self,
        out: &mut Outbox<'_>,
        incident: i64,
    ) -> Result<Vec<ThreadRow>, StoreError> {
        if let Some(t) = self.known().threads.get(&incident) {
            return Ok(t.clone());
        }
        let t = out.threads(incident).await?;
        if !t.is_empty() && t.iter().all(|r| r.thread_ref.is_some()) {
            let mut known = self.known();
            if known.threads.len() >= KNOWN_MAX {
                known.threads.clear();
            }
            known.threads.insert(incident, t.clone());
        }
        Ok(t)
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

    /// Handles one inbound event; retries on a concurrent change of the same incident.
    pub async fn handle(&self, ev: &Inbound) -> Result<Outcome, EngineError> {
        let mut outcomes = self.handle_batch(std::slice::from_ref(ev)).await?;
        Ok(outcomes.remove(0))
    }

    /// Handles several inbound events, in order, in ONE transaction (group commit: a burst
    /// costs one commit, and what the events share is read once). One outcome per event.
    ///
    /// Once an event of a channel is `UnknownThread`, the later events of that channel in the
    /// batch are not handled and are `UnknownThread` too, so the caller can retry them later
    /// in their order. On an error nothing of the batch is recorded.
    pub async fn handle_batch(&self, evs: &[Inbound]) -> Result<Vec<Outcome>, EngineError> {
        let mut attempt = 0;
        loop {
            // A first attempt may go on what `Known` says of an incident; a conflict means
            // that was stale (or a message was a duplicate), so later attempts read.
            let taken = self.guesses.taken.load(Ordering::Relaxed);
            match self.batch_once(evs, attempt == 0).await {
                Err(EngineError::Store(StoreError::Conflict)) if attempt < 5 => {
                    if self.guesses.taken.load(Ordering::Relaxed) != taken {
                        self.guesses.stale.fetch_add(1, Ordering::Relaxed);
                    }
                    self.known().latest.clear();
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn batch_once(&self, evs: &[Inbound], guess: bool) -> Result<Vec<Outcome>, EngineError> {
        let mut tx = self.store.begin().await?;
        let now = self.clock.now();
        let mut out = Outbox::new(&mut tx, now);
        // One event waits for its transaction alone: that is the one worth a round trip less.
        out.guess = guess && evs.len() == 1;
        let mut outcomes = Vec::with_capacity(evs.len());
        let mut stalled: HashSet<(&str, &str)> = HashSet::new();
        let mut wrote = false;
        if evs.len() > 1 {
            self.record_ahead(evs, &mut out).await?;
        }
        for ev in evs {
            let key = (ev.platform.as_str(), ev.channel.as_str());
            if stalled.contains(&key) {
                outcomes.push(Outcome {
                    decision: Decision::UnknownThread,
                    deliveries: 0,
                });
                continue;
            }
            let before = out.count;
            let decision = self.decide(ev, &mut out).await?;
            if decision == Decision::UnknownThread {
                stalled.insert(key);
            }
            wrote |= !matches!(
                decision,
                Decision::Ignored | Decision::Duplicate | Decision::UnknownThread
            );
            outcomes.push(Outcome {
                decision,
                deliveries: out.count - before,
            });
        }
        // Recorded ahead but not handled (parked behind an unknown thread): they are handled
        // later, and must not look like duplicates then.
        let unhandled: Vec<i64> = out.recorded.drain().filter_map(|(_, id)| id).collect();
        out.tx.forget_messages(&unhandled).await?;
        out.flush().await?;
        let (mut platforms, count, timers) = (
            std::mem::take(&mut out.platforms),
            out.count,
            out.earliest_timer,
        );
        let opened = std::mem::take(&mut out.opened);
        let written = std::mem::take(&mut out.written);
        let incidents = std::mem::take(&mut out.incidents);
        if wrote || count > 0 {
            let ids = tx.commit_outbox().await?;
            if !incidents.is_empty() {
                let mut known = self.known();
                if known.latest.len() + incidents.len() > KNOWN_MAX {
                    known.latest.clear();
                }
                known.latest.extend(incidents);
            }
            if self.hand_over(written, ids, now) {
                platforms.clear();
            }
            if !opened.is_empty() {
                let mut known = self.known();
                if known.incidents.len() + opened.len() > KNOWN_MAX {
                    known.incidents.clear();
                }
                known.incidents.extend(opened);
            }
        } else {
            drop(tx);
        }
        for p in &platforms {
            self.wake.notify(p);
        }
        if let Some(due) = timers {
            self.wake.timer_added(due);
        }
        Ok(outcomes)
    }

    /// Hands the outbox rows just committed to the delivery workers, so they need not read
    /// them back; says whether it did. If the ids do not match the rows, nothing is handed
    /// and the workers are notified to read the outbox instead.
    fn hand_over(&self, written: Vec<NewDelivery>, mut ids: Vec<i64>, now: DateTime<Utc>) -> bool {
        if written.is_empty() || ids.len() != written.len() {
            return false;
        }
        // Ids grow in the order rows are inserted (SQLite's rowid, PostgreSQL's sequence
        // within one transaction), whatever order RETURNING gives them in.
        ids.sort_unstable();
        let mut by_platform: HashMap<String, Vec<Delivery>> = HashMap::new();
        for (id, new) in ids.into_iter().zip(written) {
            by_platform
                .entry(new.platform.clone())
                .or_default()
                .push(Delivery {
                    id,
                    new,
                    status: DeliveryStatus::Pending,
                    attempts: 0,
                    next_attempt_at: now,
                    last_error: None,
                    remote_id: None,
                    created_at: now,
                    sent_at: None,
                });
        }
        for (platform, rows) in by_platform {
            self.wake.hand(&platform, rows);
        }
        true
    }

    async fn decide(&self, ev: &Inbound, out: &mut Outbox<'_>) -> Result<Decision, EngineError> {
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
        let thread_incident = self.thread_incident(ev, out).await?;
        let ctx = Ctx {
            ev,
            actor,
            source,
            thread_incident,
        };
        match &ev.event {
            InboundKind::Message => self.message(&ctx, out).await,
            InboundKind::Edit => self.change_copies(&ctx, false, out).await,
            InboundKind::Delete => self.change_copies(&ctx, true, out).await,
            InboundKind::Reaction { .. } => self.reaction(&ctx, out).await,
        }
    }

    /// The incident an event's thread (or hint) points at.
    async fn thread_incident(
        &self,
        ev: &Inbound,
        out: &mut Outbox<'_>,
    ) -> Result<Option<i64>, StoreError> {
        if let Some(n) = ev.incident_hint {
            // A hint (IRC `INC-7: ...`) may name an incident that does not exist.
            if self.known().incidents.contains(&n) {
                return Ok(Some(n));
            }
            if out.incident(n).await?.is_none() {
                return Ok(None);
            }
            let mut known = self.known();
            if known.incidents.len() >= KNOWN_MAX {
                known.incidents.clear();
            }
            known.incidents.insert(n);
            return Ok(Some(n));
        }
        let target = match (&ev.event, &ev.thread) {
            (_, Some(t)) => t.as_str(),
            (InboundKind::Reaction { .. }, None) => ev.message_id.as_str(),
            _ => return Ok(None),
        };
        let key = (ev.platform.clone(), ev.channel.clone(), target.to_string());
        if let Some(id) = self.known().thread_incident.get(&key) {
            return Ok(Some(*id));
        }
        let found = out
            .tx
            .incident_for_thread(&ev.platform, &ev.channel, target)
            .await?;
        if let Some(id) = found {
            let mut known = self.known();
            if known.thread_incident.len() >= KNOWN_MAX {
                known.thread_incident.clear();
            }
            known.thread_incident.insert(key, id);
        }
        Ok(found)
    }

    async fn message(&self, ctx: &Ctx<'_>, out: &mut Outbox<'_>) -> Result<Decision, EngineError> {
        let parsed = command::parse(&ctx.ev.text);
        if parsed == Parsed::NotACommand && ctx.thread_incident.is_none() {
            if ctx.ev.thread.is_some()
                && out
                    .tx
                    .thread_root_in_flight(&ctx.ev.platform, &ctx.ev.channel)
                    .await?
            {
                return Ok(Decision::UnknownThread);
            }
            return Ok(Decision::Ignored);
        }
        if parsed == Parsed::NotACommand
            && out.guess
            && let Some(decision) = self.mirror_unread(ctx, out).await?
        {
            return Ok(decision);
        }
        let key = (
            ctx.ev.platform.clone(),
            ctx.ev.channel.clone(),
            ctx.ev.message_id.clone(),
        );
        let recorded = match out.recorded.remove(&key) {
            Some(ahead) => ahead,
            None => {
                let m = Self::message_record(ctx.ev, ctx.thread_incident, out.now);
                self.record_message(ctx, out, &m).await?
            }
        };
        let Some(msg_id) = recorded else {
            return Ok(Decision::Duplicate);
        };
        match parsed {
            Parsed::NotACommand => self.thread_message(ctx, msg_id, out).await,
            Parsed::Usage(text) => {
                self.reply(ctx, out, None, text).await?;
                Ok(Decision::Usage)
            }
            Parsed::Command(cmd) => self.command(ctx, cmd, msg_id, out).await,
        }
    }

    fn message_record(
        ev: &Inbound,
        incident: Option<i64>,
        now: DateTime<Utc>,
    ) -> crate::store::MessageRecord {
        crate::store::MessageRecord {
            platform: ev.platform.clone(),
            channel: ev.channel.clone(),
            message_id: ev.message_id.clone(),
            thread: ev.thread.clone(),
            incident_id: incident,
            author_id: ev.author.id.clone(),
            author_display: ev.author.display.clone(),
            text: ev.text.clone(),
            sent_at: ev.sent_at,
            received_at: now,
        }
    }

    /// Records, in one go, the messages of a batch that will certainly be recorded: commands,
    /// and messages in a thread whose incident is known without reading (a hint or `Known`).
    /// The rest are recorded one by one as they are handled.
    async fn record_ahead(&self, evs: &[Inbound], out: &mut Outbox<'_>) -> Result<(), StoreError> {
        let mut records = Vec::new();
        for ev in evs.iter().filter(|e| e.event == InboundKind::Message) {
            let incident = match (ev.incident_hint, &ev.thread) {
                (Some(n), _) if self.known().incidents.contains(&n) => Some(n),
                (Some(_), _) => continue,
                (None, None) => None,
                (None, Some(t)) => {
                    let key = (ev.platform.clone(), ev.channel.clone(), t.clone());
                    match self.known().thread_incident.get(&key) {
                        Some(id) => Some(*id),
                        None => continue,
                    }
                }
            };
            if incident.is_none() && command::parse(&ev.text) == Parsed::NotACommand {
                continue;
            }
            records.push(Self::message_record(ev, incident, out.now));
        }
        if records.len() < 2 {
            return Ok(());
        }
        let ids = out.tx.record_messages(&records).await?;
        for (m, id) in records.into_iter().zip(ids) {
            out.recorded
                .entry((m.platform, m.channel, m.message_id))
                .or_insert(id);
        }
        Ok(())
    }

    /// Records the message; for a message in an incident's thread, reads the incident and its
    /// threads in the same round trip (unless this transaction or `Known` has them already).
    async fn record_message(
        &self,
        ctx: &Ctx<'_>,
        out: &mut Outbox<'_>,
        m: &crate::store::MessageRecord,
    ) -> Result<Option<i64>, StoreError> {
        let Some(id) = ctx.thread_incident else {
            return out.tx.record_message(m).await;
        };
        let want_incident = !out.incidents.contains_key(&id);
        let want_threads =
            !out.threads.contains_key(&id) && !self.known().threads.contains_key(&id);
        if !want_incident && !want_threads {
            return out.tx.record_message(m).await;
        }
        let (msg, inc, threads) = out
            .tx
            .record_message_reading(m, want_incident.then_some(id), want_threads.then_some(id))
            .await?;
        if let Some(inc) = inc {
            out.incidents.insert(id, inc);
        }
        if let Some(t) = threads {
            out.threads.insert(id, t);
        }
        Ok(msg)
    }

    /// A reply to the person who wrote the event, where they wrote it.
    async fn reply(
        &self,
        ctx: &Ctx<'_>,
        out: &mut Outbox<'_>,
        incident: Option<i64>,
        text: String,
    ) -> Result<(), StoreError> {
        let mut d = NewDelivery::to_channel(&ctx.ev.platform, &ctx.ev.channel, Style::Reply, text);
        d.thread_ref = ctx.ev.thread.clone();
        d.incident_id = incident.or(ctx.thread_incident);
        out.push(d).await?;
        Ok(())
    }

    /// Ordinary conversation in an incident's thread: maybe an acknowledgement, and mirrored to
    /// the incident's threads everywhere else.
    async fn thread_message(
        &self,
        ctx: &Ctx<'_>,
        msg_id: i64,
        out: &mut Outbox<'_>,
    ) -> Result<Decision, EngineError> {
        let Some(id) = ctx.thread_incident else {
            return Ok(Decision::Ignored);
        };
        let Some(mut inc) = out.incident(id).await? else {
            return Ok(Decision::Ignored);
        };
        self.mirror(ctx, &inc, Some(msg_id), out).await?;
        // `acknowledges` has checked what `Incident::acknowledge` would refuse.
        if self.acknowledges(ctx, &inc)
            && self
                .acknowledge(ctx, &mut inc, TimelineKind::AckFirstReply, out)
                .await?
                .is_ok()
        {
            return Ok(Decision::Acknowledged(inc.id));
        }
        Ok(Decision::Mirrored(inc.id))
    }

    /// Whether this reply in the incident's thread acknowledges it.
    fn acknowledges(&self, ctx: &Ctx<'_>, inc: &Incident) -> bool {
        self.settings.ack_on_first_reply && inc.awaits_ack() && inc.opened_by != ctx.actor.key
    }

    /// Conversation in the thread of an incident this engine knows (as it last committed it,
    /// with all its threads): recorded and mirrored without reading anything first, so the
    /// transaction is one round trip to the database, the one a person's line waits for.
    /// The transaction checks that the incident is unchanged and the message new; if either
    /// is not so it fails with `Conflict`, and the event is handled again the ordinary way.
    /// `None` when the event needs the ordinary way.
    async fn mirror_unread(
        &self,
        ctx: &Ctx<'_>,
        out: &mut Outbox<'_>,
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
        out.tx.expect_incident_version(id, inc.version).await?;
        let m = Self::message_record(ctx.ev, Some(id), out.now);
        out.tx.record_new_message(&m).await?;
        self.mirror(ctx, &inc, None, out).await?;
        let decision = Decision::Mirrored(inc.id);
        out.incidents.insert(id, inc);
        Ok(Some(decision))
    }

    fn attribution(&self, ctx: &Ctx<'_>) -> String {
        self.settings
            .attribution
            .replace("{name}", &ctx.actor.display)
            .replace("{platform}", &ctx.ev.platform)
            .replace("{kind}", ctx.ev.kind.as_str())
    }

    fn is_source_thread(ctx: &Ctx<'_>, t: &ThreadRow) -> bool {
        t.platform == ctx.ev.platform
            && (t.channel == ctx.ev.channel || t.thread_ref.as_deref() == Some(&ctx.ev.channel))
    }

    /// Queues a copy of the message for each of the incident's other threads; `msg_id` is the
    /// message's row id, or `None` for a message recorded in this transaction unread (the
    /// copies then name it by its key).
    async fn mirror(
        &self,
        ctx: &Ctx<'_>,
        inc: &Incident,
        msg_id: Option<i64>,
        out: &mut Outbox<'_>,
    ) -> Result<(), StoreError> {
        let author = self.attribution(ctx);
        for t in self.threads(out, inc.id.0).await? {
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
            out.push(d).await?;
        }
        Ok(())
    }

    /// An edit or deletion of an inbound message: every mirrored copy is edited or deleted
    /// (adapters that cannot edit post `(edited) ...`).
    async fn change_copies(
        &self,
        ctx: &Ctx<'_>,
        deleted: bool,
        out: &mut Outbox<'_>,
    ) -> Result<Decision, EngineError> {
        let Some(m) = out
            .tx
            .find_message(&ctx.ev.platform, &ctx.ev.channel, &ctx.ev.message_id)
            .await?
        else {
            return Ok(Decision::Ignored);
        };
        let author = self.attribution(ctx);
        out.flush().await?;
        for copy in out.tx.copies_of(m.id).await? {
            let mut d = copy.new.clone();
            if deleted {
                d.text = "(message deleted)".into();
                d.delete_of = Some(copy.id);
            } else {
                d.text = ctx.ev.text.clone();
                d.author = Some(author.clone());
                d.edit_of = Some(copy.id);
            }
            out.push(d).await?;
        }
        if let Some(incident) = m.record.incident_id {
            let (kind, detail) = if deleted {
                (TimelineKind::MessageDeleted, String::new())
            } else {
                (TimelineKind::MessageEdited, ctx.ev.text.clone())
            };
            out.tx
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

    /// A reaction never acknowledges; say so once per incident.
    async fn reaction(&self, ctx: &Ctx<'_>, out: &mut Outbox<'_>) -> Result<Decision, EngineError> {
        let Some(id) = ctx.thread_incident else {
            return Ok(Decision::Ignored);
        };
        let Some(inc) = out.incident(id).await? else {
            return Ok(Decision::Ignored);
        };
        if !inc.awaits_ack()
            || out
                .tx
                .has_timeline(id, TimelineKind::ReactionNotice.as_str())
                .await?
        {
            return Ok(Decision::Ignored);
        }
        out.tx
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
            format!(
                "{}, a reaction does not acknowledge {}: reactions carry no timestamp. Post a message in the thread (or `!inc ack {}`) to acknowledge it.",
                ctx.actor.display, inc.id, inc.id
            ),
        );
        d.incident_id = Some(id);
        d.in_thread = true;
        out.push(d).await?;
        Ok(Decision::ReactionNoticed)
    }

    async fn command(
        &self,
        ctx: &Ctx<'_>,
        cmd: Command,
        msg_id: i64,
        out: &mut Outbox<'_>,
    ) -> Result<Decision, EngineError> {
        let name = cmd.name();
        if self.settings.responders_only.contains(name) && !ctx.actor.responder {
            let why = if ctx.actor.known {
                format!("{} is not a responder", ctx.actor.display)
            } else {
                format!(
                    "{} on {} is not in Flare's people directory",
                    ctx.ev.author.id, ctx.ev.platform
                )
            };
            self.reply(
                ctx,
                out,
                None,
                format!("Only responders may `{name}` incidents, and {why}. Nothing was changed."),
            )
            .await?;
            return Ok(Decision::Refused);
        }
        match cmd {
            Command::Open { title, severity } => {
                self.open(ctx, title, severity, msg_id, out).await?
            }
            Command::Oncall { set } => self.oncall_command(ctx, set, out).await?,
            Command::Help { topic } => {
                self.reply(ctx, out, None, command::help(topic.as_deref()))
                    .await?
            }
            Command::List => {
                let open = out.tx.open_incidents().await?;
                self.reply(ctx, out, None, render::list(&self.settings.calendar, &open))
                    .await?
            }
            Command::Sla { at } => {
                let text = match at {
                    None => self.sla_text(self.clock.now()),
                    Some(s) => match DateTime::parse_from_rfc3339(&s) {
                        Ok(t) => self.sla_text(t.with_timezone(&Utc)),
                        Err(_) => format!(
                            "`{s}` is not an RFC 3339 time. Usage: !incident sla [<time>], e.g. !incident sla 2026-11-26T10:00:00-05:00"
                        ),
                    },
                };
                self.reply(ctx, out, None, text).await?
            }
            Command::Show { incident } => {
                if let Some(inc) = self.target(ctx, incident, "show", out).await? {
                    out.flush().await?;
                    let text = self.show(&inc, out.tx).await?;
                    self.reply(ctx, out, Some(inc.id.0), text).await?
                }
            }
            Command::Ack { incident } => {
                if let Some(mut inc) = self.target(ctx, incident, "ack", out).await? {
                    if let Err(e) = self
                        .acknowledge(ctx, &mut inc, TimelineKind::Ack, out)
                        .await?
                    {
                        self.reply(ctx, out, Some(inc.id.0), e.to_string()).await?;
                        return Ok(Decision::Refused);
                    }
                    return Ok(Decision::Acknowledged(inc.id));
                }
            }
            Command::Update { incident, text } => {
                if let Some(mut inc) = self.target(ctx, incident, "update", out).await? {
                    inc.last_update_at = ctx.ev.sent_at;
                    out.save_incident(&mut inc).await?;
                    self.timeline(out, &inc, ctx, TimelineKind::Update, &text)
                        .await?;
                    self.schedule_nudge(&inc, ctx.ev.sent_at, out).await?;
                    let msg = render::status_update(&inc, &ctx.actor.display, &text);
                    self.relay(&inc, msg, out).await?;
                }
            }
            Command::Status { incident, status } => {
                if let Some(mut inc) = self.target(ctx, incident, "status", out).await? {
                    if status == Status::Resolved {
                        return self.resolve(ctx, inc, None, out).await;
                    }
                    if let Err(e) = check_transition(inc.id, inc.status, status) {
                        self.reply(ctx, out, Some(inc.id.0), e.to_string()).await?;
                        return Ok(Decision::Refused);
                    }
                    let was = inc.status;
                    inc.status = status;
                    inc.last_update_at = ctx.ev.sent_at;
                    out.save_incident(&mut inc).await?;
                    self.timeline(
                        out,
                        &inc,
                        ctx,
                        TimelineKind::Status,
                        &format!("{was} -> {status}"),
                    )
                    .await?;
                    self.schedule_nudge(&inc, ctx.ev.sent_at, out).await?;
                    let msg = format!(
                        "📣 {} is now {} (was {}), set by {}.",
                        render::headline(&inc),
                        status,
                        was,
                        ctx.actor.display
                    );
                    self.relay(&inc, msg, out).await?;
                }
            }
            Command::Commander { incident, person } => {
                if let Some(mut inc) = self.target(ctx, incident, "commander", out).await? {
                    if !inc.status.is_open() {
                        let text = format!("{} is resolved; reopen it first.", inc.id);
                        self.reply(ctx, out, Some(inc.id.0), text).await?;
                        return Ok(Decision::Refused);
                    }
                    let name = self
                        .settings
                        .directory
                        .find(&person)
                        .map(|p| p.name.clone())
                        .unwrap_or(person);
                    inc.commander = Some(name.clone());
                    inc.last_update_at = ctx.ev.sent_at;
                    out.save_incident(&mut inc).await?;
                    self.timeline(out, &inc, ctx, TimelineKind::Commander, &name)
                        .await?;
                    let msg = format!(
                        "📣 {}: {} is now the incident commander (named by {}).",
                        render::headline(&inc),
                        name,
                        ctx.actor.display
                    );
                    self.relay(&inc, msg, out).await?;
                }
            }
            Command::Resolve { incident, summary } => {
                if let Some(inc) = self.target(ctx, incident, "resolve", out).await? {
                    return self.resolve(ctx, inc, summary, out).await;
                }
            }
            Command::Apps { incident, apps } => {
                if let Some(mut inc) = self.target(ctx, incident, "apps", out).await? {
                    inc.impacted_apps = apps;
                    out.save_incident(&mut inc).await?;
                    let list = inc.impacted_apps.join(", ");
                    self.timeline(out, &inc, ctx, TimelineKind::ImpactedApps, &list)
                        .await?;
                    let msg = format!(
                        "📣 {}: impacted applications {} (set by {}).",
                        render::headline(&inc),
                        list,
                        ctx.actor.display
                    );
                    self.relay(&inc, msg, out).await?;
                }
            }
            Command::Impact { incident, text } => {
                if let Some(mut inc) = self.target(ctx, incident, "impact", out).await? {
                    inc.business_impact = Some(text.clone());
                    out.save_incident(&mut inc).await?;
                    self.timeline(out, &inc, ctx, TimelineKind::BusinessImpact, &text)
                        .await?;
                    let msg = format!(
                        "📣 {}: business impact: {} (set by {}).",
                        render::headline(&inc),
                        text,
                        ctx.actor.display
                    );
                    self.relay(&inc, msg, out).await?;
                }
            }
            Command::Reopen { incident } => {
                if let Some(mut inc) = self.target(ctx, Some(incident), "reopen", out).await? {
                    if let Err(e) = check_reopen(inc.id, inc.status) {
                        self.reply(ctx, out, Some(inc.id.0), e.to_string()).await?;
                        return Ok(Decision::Refused);
                    }
                    inc.status = Status::Investigating;
                    inc.resolved_at = None;
                    inc.last_update_at = ctx.ev.sent_at;
                    out.save_incident(&mut inc).await?;
                    self.timeline(out, &inc, ctx, TimelineKind::Reopened, "")
                        .await?;
                    self.schedule_nudge(&inc, ctx.ev.sent_at, out).await?;
                    let msg = format!(
                        "🔥 {} was reopened by {}.",
                        render::headline(&inc),
                        ctx.actor.display
                    );
                    self.relay(&inc, msg, out).await?;
                }
            }
        }
        Ok(Decision::Command(name))
    }

    fn sla_text(&self, at: DateTime<Utc>) -> String {
        self.settings
            .sla
            .assess(&self.settings.calendar, at)
            .describe(&self.settings.calendar, at)
    }

    /// The incident a command is about: named, or the thread's. Replies when there is none.
    async fn target(
        &self,
        ctx: &Ctx<'_>,
        named: Option<IncidentId>,
        cmd: &str,
        out: &mut Outbox<'_>,
    ) -> Result<Option<Incident>, StoreError> {
        let id = match named.map(|i| i.0).or(ctx.thread_incident) {
            Some(id) => id,
            None => {
                let usage = command::spec(cmd).map(|s| s.usage()).unwrap_or_default();
                self.reply(
                    ctx,
                    out,
                    None,
                    format!(
                        "Which incident? Name it (`{usage}` with INC-n) or write in the incident's thread."
                    ),
                )
                .await?;
                return Ok(None);
            }
        };
        match out.incident(id).await? {
            Some(inc) => Ok(Some(inc)),
            None => {
                self.reply(ctx, out, None, format!("no incident {}", IncidentId(id)))
                    .await?;
                Ok(None)
            }
        }
    }

    async fn timeline(
        &self,
        out: &mut Outbox<'_>,
        inc: &Incident,
        ctx: &Ctx<'_>,
        kind: TimelineKind,
        detail: &str,
    ) -> Result<(), StoreError> {
        out.tx
            .add_timeline(&TimelineEvent {
                incident: inc.id,
                at: ctx.ev.sent_at,
                kind: kind.as_str().to_string(),
                actor: ctx.actor.key.clone(),
                source: ctx.source.clone(),
                detail: detail.to_string(),
            })
            .await
    }

    async fn open(
        &self,
        ctx: &Ctx<'_>,
        title: String,
        severity: crate::domain::incident::Severity,
        msg_id: i64,
        out: &mut Outbox<'_>,
    ) -> Result<(), EngineError> {
        let started_at = ctx.ev.sent_at;
        let sla = self
            .settings
            .sla
            .assess(&self.settings.calendar, started_at);
        let inc = out
            .tx
            .insert_incident(&NewIncident {
                title,
                severity,
                opened_by: ctx.actor.key.clone(),
                opened_platform: ctx.ev.platform.clone(),
                opened_channel: ctx.ev.channel.clone(),
                started_at,
                sla_class: sla.class.as_str().to_string(),
                sla_window_secs: sla.window.num_seconds(),
                ack_deadline: sla.deadline,
            })
            .await?;
        out.tx.set_message_incident(msg_id, inc.id.0).await?;
        out.opened.push(inc.id.0);
        let detail = match sla.class.holiday() {
            Some(h) => format!(
                "{} ({h}), ack within {}s",
                sla.class.as_str(),
                sla.window.num_seconds()
            ),
            None => format!(
                "{}, ack within {}s",
                sla.class.as_str(),
                sla.window.num_seconds()
            ),
        };
        self.timeline(out, &inc, ctx, TimelineKind::Opened, &detail)
            .await?;
        let root = render::thread_root(
            &self.settings.calendar,
            &inc,
            &ctx.actor.display,
            &ctx.place(),
        );
        let mut places = Vec::new();
        let mut source_has_thread = false;
        for ch in self.channels.iter().filter(|c| c.incident) {
            let mut d =
                NewDelivery::to_channel(&ch.platform, &ch.channel, Style::ThreadRoot, root.clone());
            d.incident_id = Some(inc.id.0);
            let root_id = out.push_now(d).await?;
            out.insert_thread(&ThreadRow {
                incident_id: inc.id.0,
                platform: ch.platform.clone(),
                channel: ch.channel.clone(),
                root_delivery_id: Some(root_id),
                thread_ref: None,
            })
            .await?;
            places.push(format!("{} {}", ch.platform, ch.channel));
            source_has_thread |= ch.platform == ctx.ev.platform && ch.channel == ctx.ev.channel;
        }
        for ch in self.channels.iter().filter(|c| c.announce && !c.incident) {
            let mut d = NewDelivery::to_channel(
                &ch.platform,
                &ch.channel,
                Style::Announcement,
                format!(
                    "🔥 {} opened by {}: follow it in the incident channels ({}).",
                    render::headline(&inc),
                    ctx.actor.display,
                    places.join(", ")
                ),
            );
            d.incident_id = Some(inc.id.0);
            out.push(d).await?;
        }
        self.schedule_ack_timers(&inc, out).await?;
        let text = if places.is_empty() {
            format!(
                "Opened {} but no incident channel is configured, so no thread was created.",
                inc.id
            )
        } else {
            format!(
                "Opened {} [{}] with a thread in: {}. Ack by {}.",
                inc.id,
                inc.severity,
                places.join(", "),
                render::local_short(&self.settings.calendar, inc.ack_deadline)
            )
        };
        let mut d = NewDelivery::to_channel(&ctx.ev.platform, &ctx.ev.channel, Style::Reply, text);
        d.incident_id = Some(inc.id.0);
        if source_has_thread {
            d.in_thread = true;
        } else {
            d.thread_ref = ctx.ev.thread.clone();
        }
        out.push(d).await?;
        Ok(())
    }

    /// The ack reminders, the breach and (for a new incident) the update nudge, in one
    /// statement.
    async fn schedule_ack_timers(
        &self,
        inc: &Incident,
        out: &mut Outbox<'_>,
    ) -> Result<(), StoreError> {
        let window = Duration::seconds(inc.sla_window_secs);
        let timer = |kind: TimerKind, due_at| NewTimer {
            incident_id: Some(inc.id.0),
            kind: kind.as_str().into(),
            due_at,
            payload: String::new(),
        };
        let mut timers: Vec<NewTimer> = self
            .settings
            .reminders
            .iter()
            .filter_map(|offset| offset.within(window))
            .map(|d| timer(TimerKind::AckReminder, inc.started_at + d))
            .collect();
        timers.push(timer(TimerKind::AckBreach, inc.ack_deadline));
        if let Some(after) = self.settings.paging.nudge_after(inc.severity) {
            timers.push(timer(TimerKind::UpdateNudge, inc.started_at + after));
        }
        out.tx.add_timers(&timers).await?;
        if let Some(first) = timers.iter().map(|t| t.due_at).min() {
            out.timer_at(first);
        }
        Ok(())
    }

    async fn acknowledge(
        &self,
        ctx: &Ctx<'_>,
        inc: &mut Incident,
        kind: TimelineKind,
        out: &mut Outbox<'_>,
    ) -> Result<Result<(), TransitionError>, StoreError> {
        let zone = self.settings.calendar.zone();
        let outcome = match inc.acknowledge(ctx.ev.sent_at, &ctx.actor.display, ctx.place(), zone) {
            Ok(o) => o,
            Err(e) => return Ok(Err(e)),
        };
        out.save_incident(inc).await?;
        self.timeline(out, inc, ctx, kind, &render::sla_outcome(outcome))
            .await?;
        out.tx.cancel_timers(inc.id.0, ACK_TIMERS).await?;
        let msg = render::acknowledged(
            &self.settings.calendar,
            inc,
            &ctx.actor.display,
            &ctx.place(),
        );
        self.relay(inc, msg, out).await?;
        Ok(Ok(()))
    }

    async fn resolve(
        &self,
        ctx: &Ctx<'_>,
        mut inc: Incident,
        summary: Option<String>,
        out: &mut Outbox<'_>,
    ) -> Result<Decision, EngineError> {
        if let Err(e) = check_transition(inc.id, inc.status, Status::Resolved) {
            self.reply(ctx, out, Some(inc.id.0), e.to_string()).await?;
            return Ok(Decision::Refused);
        }
        inc.status = Status::Resolved;
        inc.resolved_at = Some(ctx.ev.sent_at);
        inc.resolution = summary.clone();
        inc.last_update_at = ctx.ev.sent_at;
        out.save_incident(&mut inc).await?;
        out.tx.cancel_timers(inc.id.0, INCIDENT_TIMERS).await?;
        self.timeline(
            out,
            &inc,
            ctx,
            TimelineKind::Resolved,
            summary.as_deref().unwrap_or(""),
        )
        .await?;
        let lasted = crate::domain::sla::human_duration(ctx.ev.sent_at - inc.started_at);
        let msg = match &summary {
            Some(s) => format!(
                "✅ {} resolved by {} after {}: {}",
                render::headline(&inc),
                ctx.actor.display,
                lasted,
                s
            ),
            None => format!(
                "✅ {} resolved by {} after {}.",
                render::headline(&inc),
                ctx.actor.display,
                lasted
            ),
        };
        self.relay(&inc, msg, out).await?;
        Ok(Decision::Command("resolve"))
    }

    /// A status message to every thread of the incident and every announcement channel.
    async fn relay(
        &self,
        inc: &Incident,
        text: String,
        out: &mut Outbox<'_>,
    ) -> Result<(), StoreError> {
        self.relay_as(inc, text, Style::StatusUpdate, &[], out)
            .await
    }

    /// Like `relay`, with a style and people to mention (each platform gets their identity
    /// there; someone without one is named in the text only, and logged).
    pub(crate) async fn relay_as(
        &self,
        inc: &Incident,
        text: String,
        style: Style,
        ping: &[String],
        out: &mut Outbox<'_>,
    ) -> Result<(), StoreError> {
        for t in self.threads(out, inc.id.0).await? {
            let mut d = NewDelivery::to_channel(&t.platform, &t.channel, style, text.clone());
            d.incident_id = Some(inc.id.0);
            d.in_thread = true;
            if let Some(kind) = self.kind_of(&t.platform) {
                for name in ping {
                    match self
                        .settings
                        .directory
                        .find(name)
                        .and_then(|p| p.identity(kind))
                    {
                        Some(id) => d.mentions.push(id.to_string()),
                        None => {
                            tracing::info!(person = %name, platform = %t.platform, "no identity to ping on this platform")
                        }
                    }
                }
            }
            out.push(d).await?;
        }
        for ch in self.channels.iter().filter(|c| c.announce && !c.incident) {
            let mut d = NewDelivery::to_channel(
                &ch.platform,
                &ch.channel,
                Style::Announcement,
                text.clone(),
            );
            d.incident_id = Some(inc.id.0);
            out.push(d).await?;
        }
        Ok(())
    }

    pub(crate) fn kind_of(&self, platform: &str) -> Option<crate::chat::PlatformKind> {
        self.channels
            .iter()
            .find(|c| c.platform == platform)
            .map(|c| c.kind)
    }

    async fn show(&self, inc: &Incident, tx: &mut Box<dyn Tx>) -> Result<String, StoreError> {
        let cal = &self.settings.calendar;
        let mut s = format!(
            "{}\n  severity {} ({}), status {}, commander {}\n  started {} ({}) by {} in {} {}",
            render::headline(inc),
            inc.severity,
            inc.severity.describe(),
            inc.status,
            inc.commander.as_deref().unwrap_or("none"),
            render::local(cal, inc.started_at),
            inc.started_at.format("%Y-%m-%dT%H:%M:%SZ"),
            inc.opened_by,
            inc.opened_platform,
            inc.opened_channel,
        );
        if !inc.impacted_apps.is_empty() {
            s.push_str(&format!(
                "\n  impacted applications: {}",
                inc.impacted_apps.join(", ")
            ));
        }
        if let Some(impact) = &inc.business_impact {
            s.push_str(&format!("\n  business impact: {impact}"));
        }
        s.push_str(&format!(
            "\n  ack SLA: {} window ({}), deadline {}",
            crate::domain::sla::human_duration(Duration::seconds(inc.sla_window_secs)),
            render::class_label(&inc.sla_class),
            render::local(cal, inc.ack_deadline),
        ));
        match (inc.acknowledged_at, &inc.acknowledged_by) {
            (Some(at), Some(by)) => s.push_str(&format!(
                "\n  acknowledged by {} in {} at {}: {}",
                by,
                inc.acknowledged_where.as_deref().unwrap_or("?"),
                render::local(cal, at),
                render::ack_outcome(inc, at)
            )),
            _ => {
                let now = self.clock.now();
                if inc.status.is_open() && now > inc.ack_deadline {
                    s.push_str(&format!(
                        "\n  NOT acknowledged: SLA breached {} ago",
                        crate::domain::sla::human_duration(now - inc.ack_deadline)
                    ));
                } else {
                    s.push_str("\n  not acknowledged yet");
                }
            }
        }
        if let Some(at) = inc.resolved_at {
            s.push_str(&format!(
                "\n  resolved at {}{}",
                render::local(cal, at),
                inc.resolution
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ));
        }
        let threads = tx.threads(inc.id.0).await?;
        if !threads.is_empty() {
            let places: Vec<String> = threads
                .iter()
                .map(|t| {
                    format!(
                        "{} {}{}",
                        t.platform,
                        t.channel,
                        if t.thread_ref.is_some() {
                            ""
                        } else {
                            " (pending)"
                        }
                    )
                })
                .collect();
            s.push_str(&format!("\n  threads: {}", places.join(", ")));
        }
        let counts = tx.delivery_counts(inc.id.0).await?;
        s.push_str(&format!(
            "\n  deliveries: {} sent, {} pending, {} failed",
            counts.sent, counts.pending, counts.failed
        ));
        for d in tx.failed_deliveries(inc.id.0).await?.iter().take(10) {
            s.push_str(&format!(
                "\n    failed to {} {} after {} attempt(s): {}",
                d.new.platform,
                d.new.channel,
                d.attempts,
                d.last_error.as_deref().unwrap_or("unknown error")
            ));
        }
        let timers = tx.pending_timers(Some(inc.id.0)).await?;
        if !timers.is_empty() {
            s.push_str("\n  pending timers:");
            for t in timers {
                s.push_str(&format!(
                    "\n    {} at {}",
                    t.new.kind,
                    render::local(cal, t.new.due_at)
                ));
            }
        }
        let timeline = tx.timeline(inc.id.0).await?;
        let skip = timeline.len().saturating_sub(10);
        s.push_str("\n  timeline:");
        for ev in timeline.iter().skip(skip) {
            s.push_str(&format!(
                "\n    {} {} by {} ({} {}){}",
                render::local(cal, ev.at),
                ev.kind,
                ev.actor,
                ev.source.platform,
                ev.source.channel,
                if ev.detail.is_empty() {
                    String::new()
                } else {
                    format!(": {}", ev.detail)
                }
            ));
        }
        Ok(s)
    }
}
