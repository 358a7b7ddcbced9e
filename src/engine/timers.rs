//! Firing durable timers: ack reminders, the ack breach and its escalation steps, update
//! nudges, rotation handoffs and cron announcements. Each timer is marked fired in the same
//! transaction that queues its messages (and re-arms it, for recurring ones).

use chrono::{DateTime, Duration, Utc};

use super::{Engine, EngineError, TxBuffer, render};
use crate::chat::Style;
use crate::domain::escalation::{Target, Via};
use crate::domain::incident::{Incident, Source, TimelineEvent};
use crate::domain::oncall::{OnCall, Override, Rotation};
use crate::domain::timeline::TimelineKind;
use crate::domain::timer::TimerKind;
use crate::store::{NewDelivery, NewTimer, StoreError, Timer, Tx};

/// A timer this much past its due instant is reported as late.
const LATE_AFTER: i64 = 2;

fn overrides_of(rows: Vec<crate::store::OncallOverride>) -> Vec<Override> {
    rows.into_iter()
        .map(|o| Override {
            rotation: o.rotation,
            person: o.person,
            from: o.starts_at,
            to: o.ends_at,
        })
        .collect()
}

impl Engine {
    /// Fires the timers that are due, each marked fired in the transaction that queues its
    /// messages. Returns how many fired.
    pub async fn fire_due_timers(&self, limit: i64) -> Result<usize, EngineError> {
        let mut tx = self.store.begin().await?;
        let now = self.clock.now();
        let mut buf = TxBuffer::new(&mut tx, now);
        let timers = buf.tx.claim_due_timers(now, limit).await?;
        for t in &timers {
            let late = now - t.new.due_at;
            // Marked first so a recurring timer can re-arm under its own name.
            buf.tx
                .mark_timer_fired(t.id, now, late.num_milliseconds().max(0))
                .await?;
            self.fire(t, late, &mut buf).await?;
        }
        buf.flush().await?;
        let platforms = std::mem::take(&mut buf.platforms);
        tx.commit().await?;
        for p in &platforms {
            self.wake.notify(p);
        }
        Ok(timers.len())
    }

    /// Arms the recurring timers (rotation handoffs, announcements) that are not pending yet.
    /// Safe to call from several processes: one pending timer per name.
    pub async fn arm_recurring_timers(&self) -> Result<usize, EngineError> {
        let mut tx = self.store.begin().await?;
        let now = self.clock.now();
        let mut added = 0;
        for r in &self.settings.paging.rotations {
            if r.announce.is_empty() {
                continue;
            }
            added += tx
                .ensure_timer(&NewTimer {
                    incident_id: None,
                    kind: TimerKind::RotationHandoff.as_str().into(),
                    due_at: r.next_handoff(now),
                    payload: r.name.clone(),
                })
                .await? as usize;
        }
        for a in &self.settings.paging.announcements {
            if let Some(due) = a.schedule.next_after(now) {
                added += tx
                    .ensure_timer(&NewTimer {
                        incident_id: None,
                        kind: TimerKind::Announcement.as_str().into(),
                        due_at: due,
                        payload: a.name.clone(),
                    })
                    .await? as usize;
            }
        }
        tx.commit().await?;
        if added > 0 {
            self.wake.timers.notify_one();
        }
        Ok(added)
    }

    /// Who is on call in a rotation (the first when `None`) at `at`, overrides included.
    pub(crate) async fn on_call(
        &self,
        rotation: Option<&str>,
        at: DateTime<Utc>,
        tx: &mut Box<dyn Tx>,
    ) -> Result<Option<(OnCall, OnCall, &Rotation)>, StoreError> {
        let Some(r) = self.settings.paging.rotation(rotation) else {
            return Ok(None);
        };
        let overrides = overrides_of(tx.oncall_overrides(&r.name, at).await?);
        let now = r.on_call(at, &overrides);
        let next = r.next_on_call(at, &overrides);
        Ok(Some((now, next, r)))
    }

    /// The rotation an incident's pages go to: its escalation path's, else the first.
    fn rotation_for(&self, inc: &Incident) -> Option<&str> {
        self.settings
            .paging
            .escalation
            .path_for(inc.severity)
            .and_then(|p| p.rotation.as_deref())
    }

    /// The current on-call for the incident, else its commander.
    async fn responder(
        &self,
        inc: &Incident,
        at: DateTime<Utc>,
        tx: &mut Box<dyn Tx>,
    ) -> Result<Vec<String>, StoreError> {
        if let Some((now, _, _)) = self.on_call(self.rotation_for(inc), at, tx).await?
            && !now.person.is_empty()
        {
            return Ok(vec![now.person]);
        }
        Ok(inc.commander.iter().cloned().collect())
    }

    /// (Re-)arms the "no status update" nudge `after` the incident's last update.
    pub(crate) async fn schedule_nudge(
        &self,
        inc: &Incident,
        last_update: DateTime<Utc>,
        buf: &mut TxBuffer<'_>,
    ) -> Result<(), StoreError> {
        let Some(after) = self.settings.paging.nudge_after(inc.severity) else {
            buf.tx
                .cancel_timers(inc.id.0, &[TimerKind::UpdateNudge.as_str()])
                .await?;
            return Ok(());
        };
        let due_at = last_update + after;
        buf.tx
            .reset_timer(inc.id.0, TimerKind::UpdateNudge.as_str(), due_at)
            .await?;
        buf.timer_at(due_at);
        Ok(())
    }

    /// Mentions of `names` on a platform, by each person's identity there.
    fn mentions_on(&self, platform: &str, names: &[String]) -> Vec<String> {
        let Some(kind) = self.kind_of(platform) else {
            return Vec::new();
        };
        names
            .iter()
            .filter_map(|n| {
                let id = self
                    .settings
                    .directory
                    .find(n)
                    .and_then(|p| p.identity(kind));
                if id.is_none() {
                    tracing::info!(person = %n, %platform, "no identity to ping on this platform");
                }
                id.map(str::to_string)
            })
            .collect()
    }

    /// A message to a configured `platform/channel` (announcements, handoffs).
    async fn post_to(
        &self,
        (platform, channel): &(String, String),
        text: &str,
        ping: &[String],
        buf: &mut TxBuffer<'_>,
    ) -> Result<(), StoreError> {
        if self.kind_of(platform).is_none() {
            tracing::warn!(%platform, %channel, "announcement for a platform that is not running; skipped");
            return Ok(());
        }
        let mut d = NewDelivery::to_channel(platform, channel, Style::Announcement, text.into());
        d.mentions = self.mentions_on(platform, ping);
        buf.push(d).await?;
        Ok(())
    }

    async fn fire(
        &self,
        t: &Timer,
        late: Duration,
        buf: &mut TxBuffer<'_>,
    ) -> Result<(), StoreError> {
        let lateness = if late > Duration::seconds(LATE_AFTER) {
            tracing::warn!(timer = t.id, kind = %t.new.kind, late_ms = late.num_milliseconds(), "timer fired late");
            format!(
                " (late: due at {}, fired {} after; Flare was not running then)",
                render::local_short(&self.settings.calendar, t.new.due_at),
                crate::domain::sla::human_duration(late)
            )
        } else {
            String::new()
        };
        let kind = TimerKind::parse(&t.new.kind);
        match kind {
            Some(TimerKind::RotationHandoff) => return self.fire_handoff(t, &lateness, buf).await,
            Some(TimerKind::Announcement) => {
                return self.fire_announcement(t, &lateness, buf).await;
            }
            _ => {}
        }
        let Some(id) = t.new.incident_id else {
            tracing::warn!(timer = t.id, kind = %t.new.kind, "timer without incident ignored");
            return Ok(());
        };
        let Some(inc) = buf.incident(id).await? else {
            return Ok(());
        };
        if !inc.status.is_open() {
            return Ok(());
        }
        if kind == Some(TimerKind::UpdateNudge) {
            return self.fire_nudge(t, &inc, &lateness, buf).await;
        }
        if !inc.awaits_ack() {
            return Ok(());
        }
        let ping = self.responder(&inc, buf.now, buf.tx).await?;
        let cal = &self.settings.calendar;
        match kind {
            Some(TimerKind::AckReminder) => {
                let left = inc.ack_deadline - t.new.due_at;
                let text = format!(
                    "⏰ {} is not acknowledged: {} left (deadline {}). Reply in this thread or `!inc ack`.{}",
                    render::headline(&inc),
                    crate::domain::sla::human_duration(left),
                    render::local_short(cal, inc.ack_deadline),
                    lateness
                );
                self.relay_as(&inc, text, Style::Reminder, &ping, buf)
                    .await?;
            }
            Some(TimerKind::AckBreach) => {
                self.flare_event(&inc, t, TimelineKind::AckBreached, lateness.trim(), buf)
                    .await?;
                let text = format!(
                    "🚨 {}: ack SLA breached. Not acknowledged within {} (deadline {}).{}",
                    render::headline(&inc),
                    crate::domain::sla::human_duration(Duration::seconds(inc.sla_window_secs)),
                    render::local_short(cal, inc.ack_deadline),
                    lateness
                );
                self.relay_as(&inc, text, Style::Reminder, &ping, buf)
                    .await?;
                self.start_escalation(&inc, t, buf).await?;
            }
            Some(TimerKind::Escalation) => {
                self.fire_escalation_step(&inc, t, &lateness, buf).await?
            }
            _ => tracing::warn!(timer = t.id, kind = %t.new.kind, "unknown timer kind ignored"),
        }
        Ok(())
    }

    /// A timeline event Flare itself records for a timer.
    async fn flare_event(
        &self,
        inc: &Incident,
        t: &Timer,
        kind: TimelineKind,
        detail: &str,
        buf: &mut TxBuffer<'_>,
    ) -> Result<(), StoreError> {
        buf.tx
            .add_timeline(&TimelineEvent {
                incident: inc.id,
                at: t.new.due_at,
                kind: kind.as_str().into(),
                actor: "flare".into(),
                source: Source {
                    platform: "flare".into(),
                    channel: String::new(),
                    user: "flare".into(),
                    message_id: format!("timer-{}", t.id),
                },
                detail: detail.into(),
            })
            .await
    }

    /// Arms one timer per step of the incident's escalation path, relative to the breach.
    async fn start_escalation(
        &self,
        inc: &Incident,
        breach: &Timer,
        buf: &mut TxBuffer<'_>,
    ) -> Result<(), StoreError> {
        let Some(path) = self.settings.paging.escalation.path_for(inc.severity) else {
            return Ok(());
        };
        for (i, step) in path.steps.iter().enumerate() {
            buf.tx
                .add_timer(&NewTimer {
                    incident_id: Some(inc.id.0),
                    kind: TimerKind::Escalation.as_str().into(),
                    due_at: breach.new.due_at + step.after,
                    payload: i.to_string(),
                })
                .await?;
            buf.timer_at(breach.new.due_at + step.after);
        }
        let plan: Vec<String> = path
            .steps
            .iter()
            .map(|s| {
                format!(
                    "+{} {} via {}",
                    crate::domain::sla::human_duration(s.after),
                    s.notify
                        .iter()
                        .map(|t| t.describe())
                        .collect::<Vec<_>>()
                        .join(", "),
                    s.via.as_str()
                )
            })
            .collect();
        self.flare_event(
            inc,
            breach,
            TimelineKind::EscalationStarted,
            &plan.join("; "),
            buf,
        )
        .await
    }

    async fn fire_escalation_step(
        &self,
        inc: &Incident,
        t: &Timer,
        lateness: &str,
        buf: &mut TxBuffer<'_>,
    ) -> Result<(), StoreError> {
        let Some(path) = self.settings.paging.escalation.path_for(inc.severity) else {
            return Ok(());
        };
        let Some((i, step)) = t
            .new
            .payload
            .parse::<usize>()
            .ok()
            .and_then(|i| path.steps.get(i).map(|s| (i, s)))
        else {
            tracing::warn!(timer = t.id, payload = %t.new.payload, "escalation step no longer configured");
            return Ok(());
        };
        let rotation = path.rotation.as_deref();
        let on_call = self.on_call(rotation, buf.now, buf.tx).await?;
        let mut names = Vec::new();
        let mut unresolved = Vec::new();
        for target in &step.notify {
            let name = match target {
                Target::OnCall => on_call.as_ref().map(|(c, _, _)| c.person.clone()),
                Target::Secondary => on_call
                    .as_ref()
                    .map(|(_, _, r)| r.secondary(buf.now).to_string()),
                Target::Commander => inc.commander.clone(),
                Target::Person(p) => Some(p.clone()),
            };
            match name.filter(|n| !n.is_empty()) {
                Some(n) if !names.contains(&n) => names.push(n),
                Some(_) => {}
                None => unresolved.push(target.describe()),
            }
        }
        let n = path.steps.len();
        let who = if names.is_empty() {
            "no one".to_string()
        } else {
            names.join(", ")
        };
        let mut detail = match step.via {
            Via::Chat => {
                let dm = format!(
                    "🚨 You are paged for {}: not acknowledged, escalation step {}/{n}. Reply in its incident thread or `!inc ack {}`.{lateness}",
                    render::headline(inc),
                    i + 1,
                    inc.id
                );
                let sent = self.direct_messages(inc, &names, &dm, buf).await?;
                format!(
                    "step {}/{n} via chat: mentioned {who} in the incident threads; direct messages: {}",
                    i + 1,
                    if sent.is_empty() {
                        "none (no identity on a platform with direct messages)".to_string()
                    } else {
                        sent.join(", ")
                    }
                )
            }
            Via::Email => {
                let addrs: Vec<String> = names
                    .iter()
                    .map(|n| {
                        match self
                            .settings
                            .directory
                            .find(n)
                            .and_then(|p| p.email.clone())
                        {
                            Some(e) => format!("{n} <{e}>"),
                            None => format!("{n} (no e-mail address)"),
                        }
                    })
                    .collect();
                format!(
                    "step {}/{n} via email to {}: pending transport (e-mail is not available yet)",
                    i + 1,
                    if addrs.is_empty() {
                        "no one".into()
                    } else {
                        addrs.join(", ")
                    }
                )
            }
            Via::Webhook => format!(
                "step {}/{n} via webhook {}: pending transport (webhooks are not available yet)",
                i + 1,
                step.url.as_deref().unwrap_or("")
            ),
        };
        if !unresolved.is_empty() {
            detail.push_str(&format!("; nobody to page for {}", unresolved.join(", ")));
        }
        self.flare_event(inc, t, TimelineKind::EscalationStep, &detail, buf)
            .await?;
        let (text, ping) = match step.via {
            Via::Chat => (
                format!(
                    "🚨 {} is still not acknowledged: escalation step {}/{n}, paging {who}.{lateness}",
                    render::headline(inc),
                    i + 1
                ),
                names,
            ),
            _ => (
                format!(
                    "🚨 {}: escalation step {}/{n} ({} to {who}) is recorded but cannot be sent yet: {} transport is not available.{lateness}",
                    render::headline(inc),
                    i + 1,
                    step.via.as_str(),
                    step.via.as_str()
                ),
                Vec::new(),
            ),
        };
        self.relay_as(inc, text, Style::Reminder, &ping, buf).await
    }

    /// Direct messages to `names` on every connected platform (Slack: the app's DM, IRC: a
    /// NOTICE to the nick, Rocket.Chat: the `@username` room, the console); returns where they
    /// went.
    async fn direct_messages(
        &self,
        inc: &Incident,
        names: &[String],
        text: &str,
        buf: &mut TxBuffer<'_>,
    ) -> Result<Vec<String>, StoreError> {
        let mut platforms: Vec<(&str, crate::chat::PlatformKind)> = Vec::new();
        for c in &self.channels {
            if !platforms.iter().any(|(p, _)| *p == c.platform) {
                platforms.push((&c.platform, c.kind));
            }
        }
        let mut sent = Vec::new();
        for name in names {
            let Some(person) = self.settings.directory.find(name) else {
                continue;
            };
            for (platform, kind) in &platforms {
                if let Some(id) = person.identity(*kind) {
                    // Rocket.Chat addresses a person's direct-message room as `@username`.
                    let target = match kind {
                        crate::chat::PlatformKind::RocketChat => format!("@{id}"),
                        _ => id.to_string(),
                    };
                    let mut d = crate::store::NewDelivery::to_channel(
                        platform,
                        &target,
                        Style::Reminder,
                        text.to_string(),
                    );
                    d.incident_id = Some(inc.id.0);
                    buf.push(d).await?;
                    sent.push(format!("{name} on {platform}"));
                }
            }
        }
        Ok(sent)
    }

    async fn fire_nudge(
        &self,
        t: &Timer,
        inc: &Incident,
        lateness: &str,
        buf: &mut TxBuffer<'_>,
    ) -> Result<(), StoreError> {
        let Some(after) = self.settings.paging.nudge_after(inc.severity) else {
            return Ok(());
        };
        let ping = match &inc.commander {
            Some(c) => vec![c.clone()],
            None => self.responder(inc, buf.now, buf.tx).await?,
        };
        let text = format!(
            "📝 {} has had no status update for {}{}. Post one with `!inc update {} <what changed>`.{lateness}",
            render::headline(inc),
            crate::domain::sla::human_duration(t.new.due_at - inc.last_update_at),
            match ping.first() {
                Some(p) => format!(" ({p})"),
                None => String::new(),
            },
            inc.id
        );
        self.flare_event(inc, t, TimelineKind::UpdateNudge, "", buf)
            .await?;
        self.relay_as(inc, text, Style::Reminder, &ping, buf)
            .await?;
        let due_at = buf.now.max(t.new.due_at) + after;
        buf.tx
            .add_timer(&NewTimer {
                incident_id: Some(inc.id.0),
                kind: TimerKind::UpdateNudge.as_str().into(),
                due_at,
                payload: String::new(),
            })
            .await?;
        buf.timer_at(due_at);
        Ok(())
    }

    async fn fire_handoff(
        &self,
        t: &Timer,
        lateness: &str,
        buf: &mut TxBuffer<'_>,
    ) -> Result<(), StoreError> {
        let Some(r) = self
            .settings
            .paging
            .rotations
            .iter()
            .find(|r| r.name == t.new.payload)
        else {
            tracing::warn!(rotation = %t.new.payload, "handoff for a rotation no longer configured");
            return Ok(());
        };
        let at = buf.now.max(t.new.due_at);
        let Some((cur, next, r)) = self.on_call(Some(&r.name), at, buf.tx).await? else {
            return Ok(());
        };
        let text = format!(
            "📟 On-call handoff ({}): {} is on call{} until {}; next: {}.{lateness}",
            r.name,
            cur.person,
            if cur.overridden { " (override)" } else { "" },
            render::when(&self.settings.calendar, cur.until),
            next.person
        );
        let ping = vec![cur.person.clone()];
        for place in &r.announce {
            self.post_to(place, &text, &ping, buf).await?;
        }
        buf.tx
            .ensure_timer(&NewTimer {
                incident_id: None,
                kind: TimerKind::RotationHandoff.as_str().into(),
                due_at: r.next_handoff(at),
                payload: r.name.clone(),
            })
            .await?;
        buf.timer_at(r.next_handoff(at));
        Ok(())
    }

    async fn fire_announcement(
        &self,
        t: &Timer,
        lateness: &str,
        buf: &mut TxBuffer<'_>,
    ) -> Result<(), StoreError> {
        let Some(a) = self
            .settings
            .paging
            .announcements
            .iter()
            .find(|a| a.name == t.new.payload)
        else {
            tracing::warn!(announcement = %t.new.payload, "announcement no longer configured");
            return Ok(());
        };
        let text = format!("📢 {}{lateness}", a.text);
        for place in &a.channels {
            self.post_to(place, &text, &[], buf).await?;
        }
        if let Some(due) = a.schedule.next_after(buf.now.max(t.new.due_at)) {
            buf.tx
                .ensure_timer(&NewTimer {
                    incident_id: None,
                    kind: TimerKind::Announcement.as_str().into(),
                    due_at: due,
                    payload: a.name.clone(),
                })
                .await?;
            buf.timer_at(due);
        }
        Ok(())
    }
}
