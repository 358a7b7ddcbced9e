//! Firing durable timers: ack reminders and the breach (`ack`), the escalation steps
//! (`escalation`), update nudges (`nudge`), rotation handoffs (`handoff`) and cron
//! announcements (`announcement`). Each timer is marked fired in the same transaction that
//! queues its messages (and re-arms it, for recurring ones). What a timer is for is
//! `domain::timer::TimerKind`.

mod ack;
mod announcement;
mod escalation;
mod handoff;
mod nudge;

use chrono::{DateTime, Duration, Utc};

use super::{Engine, EngineError, TxBuffer, render};
use crate::chat::Style;
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
        for t in &timers {
            crate::measure::timer_fired(&t.new.kind, now - t.new.due_at);
        }
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
    pub(super) fn rotation_for(&self, inc: &Incident) -> Option<&str> {
        self.settings
            .paging
            .escalation
            .path_for(inc.severity)
            .and_then(|p| p.rotation.as_deref())
    }

    /// The current on-call for the incident, else its commander.
    pub(super) async fn responder(
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

    /// Mentions of `names` on a platform, by each person's identity there.
    pub(super) fn mentions_on(&self, platform: &str, names: &[String]) -> Vec<String> {
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
    pub(super) async fn post_to(
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

    pub(super) async fn fire(
        &self,
        t: &Timer,
        late: Duration,
        buf: &mut TxBuffer<'_>,
    ) -> Result<(), StoreError> {
        let lateness = if late > Duration::seconds(LATE_AFTER) {
            tracing::warn!(timer = t.id, kind = %t.new.kind, late_ms = late.num_milliseconds(), "timer fired late");
            render::late(&self.settings.calendar, t.new.due_at, late)
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
        let _cal = &self.settings.calendar;
        match kind {
            Some(TimerKind::AckReminder) => {
                self.fire_reminder(&inc, t, &lateness, &ping, buf).await
            }
            Some(TimerKind::AckBreach) => self.fire_breach(&inc, t, &lateness, &ping, buf).await,
            Some(TimerKind::Escalation) => self.fire_escalation_step(&inc, t, &lateness, buf).await,
            _ => {
                tracing::warn!(timer = t.id, kind = %t.new.kind, "unknown timer kind ignored");
                Ok(())
            }
        }
    }

    /// A timeline event Flare itself records for a timer.
    pub(super) async fn flare_event(
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
}
