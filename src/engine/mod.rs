//! The application service: takes one inbound chat event, decides, and records the change,
//! the timeline, the outbox rows and the timers in ONE database transaction. It never touches
//! a socket; the clock is injected.

mod batch;
mod known;
mod mirror;
pub mod render;
pub mod timers;
mod tx_buffer;

pub use known::Guesses;
use known::Known;
pub(crate) use tx_buffer::TxBuffer;

use std::collections::HashSet;
use std::sync::Arc;

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
use crate::store::{NewDelivery, NewIncident, NewTimer, SharedStore, StoreError, ThreadRow, Tx};

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
        buf.push(d).await?;
        Ok(())
    }

    async fn command(
        &self,
        ctx: &Ctx<'_>,
        cmd: Command,
        msg_id: i64,
        buf: &mut TxBuffer<'_>,
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
                buf,
                None,
                format!("Only responders may `{name}` incidents, and {why}. Nothing was changed."),
            )
            .await?;
            return Ok(Decision::Refused);
        }
        match cmd {
            Command::Open { title, severity } => {
                self.open(ctx, title, severity, msg_id, buf).await?
            }
            Command::Oncall { set } => self.oncall_command(ctx, set, buf).await?,
            Command::Help { topic } => {
                self.reply(ctx, buf, None, command::help(topic.as_deref()))
                    .await?
            }
            Command::List => {
                let open = buf.tx.open_incidents().await?;
                self.reply(ctx, buf, None, render::list(&self.settings.calendar, &open))
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
                self.reply(ctx, buf, None, text).await?
            }
            Command::Show { incident } => {
                if let Some(inc) = self.target(ctx, incident, "show", buf).await? {
                    buf.flush().await?;
                    let text = self.show(&inc, buf.tx).await?;
                    self.reply(ctx, buf, Some(inc.id.0), text).await?
                }
            }
            Command::Ack { incident } => {
                if let Some(mut inc) = self.target(ctx, incident, "ack", buf).await? {
                    if let Err(e) = self
                        .acknowledge(ctx, &mut inc, TimelineKind::Ack, buf)
                        .await?
                    {
                        self.reply(ctx, buf, Some(inc.id.0), e.to_string()).await?;
                        return Ok(Decision::Refused);
                    }
                    return Ok(Decision::Acknowledged(inc.id));
                }
            }
            Command::Update { incident, text } => {
                if let Some(mut inc) = self.target(ctx, incident, "update", buf).await? {
                    inc.last_update_at = ctx.ev.sent_at;
                    buf.save_incident(&mut inc).await?;
                    self.timeline(buf, &inc, ctx, TimelineKind::Update, &text)
                        .await?;
                    self.schedule_nudge(&inc, ctx.ev.sent_at, buf).await?;
                    let msg = render::status_update(&inc, &ctx.actor.display, &text);
                    self.relay(&inc, msg, buf).await?;
                }
            }
            Command::Status { incident, status } => {
                if let Some(mut inc) = self.target(ctx, incident, "status", buf).await? {
                    if status == Status::Resolved {
                        return self.resolve(ctx, inc, None, buf).await;
                    }
                    if let Err(e) = check_transition(inc.id, inc.status, status) {
                        self.reply(ctx, buf, Some(inc.id.0), e.to_string()).await?;
                        return Ok(Decision::Refused);
                    }
                    let was = inc.status;
                    inc.status = status;
                    inc.last_update_at = ctx.ev.sent_at;
                    buf.save_incident(&mut inc).await?;
                    self.timeline(
                        buf,
                        &inc,
                        ctx,
                        TimelineKind::Status,
                        &format!("{was} -> {status}"),
                    )
                    .await?;
                    self.schedule_nudge(&inc, ctx.ev.sent_at, buf).await?;
                    let msg = format!(
                        "📣 {} is now {} (was {}), set by {}.",
                        render::headline(&inc),
                        status,
                        was,
                        ctx.actor.display
                    );
                    self.relay(&inc, msg, buf).await?;
                }
            }
            Command::Commander { incident, person } => {
                if let Some(mut inc) = self.target(ctx, incident, "commander", buf).await? {
                    if !inc.status.is_open() {
                        let text = format!("{} is resolved; reopen it first.", inc.id);
                        self.reply(ctx, buf, Some(inc.id.0), text).await?;
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
                    buf.save_incident(&mut inc).await?;
                    self.timeline(buf, &inc, ctx, TimelineKind::Commander, &name)
                        .await?;
                    let msg = format!(
                        "📣 {}: {} is now the incident commander (named by {}).",
                        render::headline(&inc),
                        name,
                        ctx.actor.display
                    );
                    self.relay(&inc, msg, buf).await?;
                }
            }
            Command::Resolve { incident, summary } => {
                if let Some(inc) = self.target(ctx, incident, "resolve", buf).await? {
                    return self.resolve(ctx, inc, summary, buf).await;
                }
            }
            Command::Apps { incident, apps } => {
                if let Some(mut inc) = self.target(ctx, incident, "apps", buf).await? {
                    inc.impacted_apps = apps;
                    buf.save_incident(&mut inc).await?;
                    let list = inc.impacted_apps.join(", ");
                    self.timeline(buf, &inc, ctx, TimelineKind::ImpactedApps, &list)
                        .await?;
                    let msg = format!(
                        "📣 {}: impacted applications {} (set by {}).",
                        render::headline(&inc),
                        list,
                        ctx.actor.display
                    );
                    self.relay(&inc, msg, buf).await?;
                }
            }
            Command::Impact { incident, text } => {
                if let Some(mut inc) = self.target(ctx, incident, "impact", buf).await? {
                    inc.business_impact = Some(text.clone());
                    buf.save_incident(&mut inc).await?;
                    self.timeline(buf, &inc, ctx, TimelineKind::BusinessImpact, &text)
                        .await?;
                    let msg = format!(
                        "📣 {}: business impact: {} (set by {}).",
                        render::headline(&inc),
                        text,
                        ctx.actor.display
                    );
                    self.relay(&inc, msg, buf).await?;
                }
            }
            Command::Reopen { incident } => {
                if let Some(mut inc) = self.target(ctx, Some(incident), "reopen", buf).await? {
                    if let Err(e) = check_reopen(inc.id, inc.status) {
                        self.reply(ctx, buf, Some(inc.id.0), e.to_string()).await?;
                        return Ok(Decision::Refused);
                    }
                    inc.status = Status::Investigating;
                    inc.resolved_at = None;
                    inc.last_update_at = ctx.ev.sent_at;
                    buf.save_incident(&mut inc).await?;
                    self.timeline(buf, &inc, ctx, TimelineKind::Reopened, "")
                        .await?;
                    self.schedule_nudge(&inc, ctx.ev.sent_at, buf).await?;
                    let msg = format!(
                        "🔥 {} was reopened by {}.",
                        render::headline(&inc),
                        ctx.actor.display
                    );
                    self.relay(&inc, msg, buf).await?;
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
        buf: &mut TxBuffer<'_>,
    ) -> Result<Option<Incident>, StoreError> {
        let id = match named.map(|i| i.0).or(ctx.thread_incident) {
            Some(id) => id,
            None => {
                let usage = command::spec(cmd).map(|s| s.usage()).unwrap_or_default();
                self.reply(
                    ctx,
                    buf,
                    None,
                    format!(
                        "Which incident? Name it (`{usage}` with INC-n) or write in the incident's thread."
                    ),
                )
                .await?;
                return Ok(None);
            }
        };
        match buf.incident(id).await? {
            Some(inc) => Ok(Some(inc)),
            None => {
                self.reply(ctx, buf, None, format!("no incident {}", IncidentId(id)))
                    .await?;
                Ok(None)
            }
        }
    }

    async fn timeline(
        &self,
        buf: &mut TxBuffer<'_>,
        inc: &Incident,
        ctx: &Ctx<'_>,
        kind: TimelineKind,
        detail: &str,
    ) -> Result<(), StoreError> {
        buf.tx
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
        buf: &mut TxBuffer<'_>,
    ) -> Result<(), EngineError> {
        let started_at = ctx.ev.sent_at;
        let sla = self
            .settings
            .sla
            .assess(&self.settings.calendar, started_at);
        let inc = buf
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
        buf.tx.set_message_incident(msg_id, inc.id.0).await?;
        buf.opened.push(inc.id.0);
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
        self.timeline(buf, &inc, ctx, TimelineKind::Opened, &detail)
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
            let root_id = buf.push_now(d).await?;
            buf.insert_thread(&ThreadRow {
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
            buf.push(d).await?;
        }
        self.schedule_ack_timers(&inc, buf).await?;
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
        buf.push(d).await?;
        Ok(())
    }

    /// The ack reminders, the breach and (for a new incident) the update nudge, in one
    /// statement.
    async fn schedule_ack_timers(
        &self,
        inc: &Incident,
        buf: &mut TxBuffer<'_>,
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
        buf.tx.add_timers(&timers).await?;
        if let Some(first) = timers.iter().map(|t| t.due_at).min() {
            buf.timer_at(first);
        }
        Ok(())
    }

    async fn acknowledge(
        &self,
        ctx: &Ctx<'_>,
        inc: &mut Incident,
        kind: TimelineKind,
        buf: &mut TxBuffer<'_>,
    ) -> Result<Result<(), TransitionError>, StoreError> {
        let zone = self.settings.calendar.zone();
        let outcome = match inc.acknowledge(ctx.ev.sent_at, &ctx.actor.display, ctx.place(), zone) {
            Ok(o) => o,
            Err(e) => return Ok(Err(e)),
        };
        buf.save_incident(inc).await?;
        self.timeline(buf, inc, ctx, kind, &render::sla_outcome(outcome))
            .await?;
        buf.tx.cancel_timers(inc.id.0, ACK_TIMERS).await?;
        let msg = render::acknowledged(
            &self.settings.calendar,
            inc,
            &ctx.actor.display,
            &ctx.place(),
        );
        self.relay(inc, msg, buf).await?;
        Ok(Ok(()))
    }

    async fn resolve(
        &self,
        ctx: &Ctx<'_>,
        mut inc: Incident,
        summary: Option<String>,
        buf: &mut TxBuffer<'_>,
    ) -> Result<Decision, EngineError> {
        if let Err(e) = check_transition(inc.id, inc.status, Status::Resolved) {
            self.reply(ctx, buf, Some(inc.id.0), e.to_string()).await?;
            return Ok(Decision::Refused);
        }
        inc.status = Status::Resolved;
        inc.resolved_at = Some(ctx.ev.sent_at);
        inc.resolution = summary.clone();
        inc.last_update_at = ctx.ev.sent_at;
        buf.save_incident(&mut inc).await?;
        buf.tx.cancel_timers(inc.id.0, INCIDENT_TIMERS).await?;
        self.timeline(
            buf,
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
        self.relay(&inc, msg, buf).await?;
        Ok(Decision::Command("resolve"))
    }

    /// A status message to every thread of the incident and every announcement channel.
    async fn relay(
        &self,
        inc: &Incident,
        text: String,
        buf: &mut TxBuffer<'_>,
    ) -> Result<(), StoreError> {
        self.relay_as(inc, text, Style::StatusUpdate, &[], buf)
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
        buf: &mut TxBuffer<'_>,
    ) -> Result<(), StoreError> {
        for t in self.threads(buf, inc.id.0).await? {
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
            buf.push(d).await?;
        }
        for ch in self.channels.iter().filter(|c| c.announce && !c.incident) {
            let mut d = NewDelivery::to_channel(
                &ch.platform,
                &ch.channel,
                Style::Announcement,
                text.clone(),
            );
            d.incident_id = Some(inc.id.0);
            buf.push(d).await?;
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
