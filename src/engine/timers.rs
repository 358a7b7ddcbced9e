//! Firing durable timers: ack reminders and the ack breach. Each timer is marked fired in the
//! same transaction that queues its messages.

use std::collections::HashSet;

use chrono::Duration;

use super::{Engine, EngineError, Outbox, render};
use crate::chat::Style;
use crate::domain::incident::{Source, TimelineEvent};
use crate::store::StoreError;

impl Engine {
    /// Fires the timers that are due, each marked fired in the transaction that queues its
    /// messages. Returns how many fired.
    pub async fn fire_due_timers(&self, limit: i64) -> Result<usize, EngineError> {
        let mut tx = self.store.begin().await?;
        let now = self.clock.now();
        let mut out = Outbox {
            tx: &mut tx,
            now,
            platforms: HashSet::new(),
            count: 0,
            timers_added: false,
        };
        let timers = out.tx.claim_due_timers(now, limit).await?;
        for t in &timers {
            let late = now - t.new.due_at;
            self.fire(t, late, &mut out).await?;
            out.tx
                .mark_timer_fired(t.id, now, late.num_milliseconds().max(0))
                .await?;
        }
        let platforms = std::mem::take(&mut out.platforms);
        tx.commit().await?;
        for p in &platforms {
            self.wake.notify(p);
        }
        Ok(timers.len())
    }

    async fn fire(
        &self,
        t: &crate::store::Timer,
        late: Duration,
        out: &mut Outbox<'_>,
    ) -> Result<(), StoreError> {
        let lateness = if late > Duration::seconds(5) {
            format!(
                " (Flare was down: this fired {} late)",
                crate::domain::sla::human_duration(late)
            )
        } else {
            String::new()
        };
        if late > Duration::seconds(5) {
            tracing::warn!(timer = t.id, kind = %t.new.kind, late_ms = late.num_milliseconds(), "timer fired late");
        }
        let Some(id) = t.new.incident_id else {
            tracing::warn!(timer = t.id, kind = %t.new.kind, "timer without incident ignored");
            return Ok(());
        };
        let Some(inc) = out.tx.incident(id).await? else {
            return Ok(());
        };
        if !inc.status.is_open() || inc.acknowledged_at.is_some() {
            return Ok(());
        }
        let ping: Vec<String> = inc.commander.iter().cloned().collect();
        let cal = &self.settings.calendar;
        let source = Source {
            platform: "flare".into(),
            channel: String::new(),
            user: "flare".into(),
            message_id: format!("timer-{}", t.id),
        };
        match t.new.kind.as_str() {
            "ack_reminder" => {
                let left = inc.ack_deadline - t.new.due_at;
                let text = format!(
                    "⏰ {} is not acknowledged: {} left (deadline {}). Reply in this thread or `!inc ack`.{}",
                    render::headline(&inc),
                    crate::domain::sla::human_duration(left),
                    render::local_short(cal, inc.ack_deadline),
                    lateness
                );
                self.relay_as(&inc, text, Style::Reminder, &ping, out)
                    .await?;
            }
            "ack_breach" => {
                out.tx
                    .add_timeline(&TimelineEvent {
                        incident: inc.id,
                        at: t.new.due_at,
                        kind: "ack_breached".into(),
                        actor: "flare".into(),
                        source,
                        detail: lateness.trim().to_string(),
                    })
                    .await?;
                let text = format!(
                    "🚨 {}: ack SLA breached. Not acknowledged within {} (deadline {}).{}",
                    render::headline(&inc),
                    crate::domain::sla::human_duration(Duration::seconds(inc.sla_window_secs)),
                    render::local_short(cal, inc.ack_deadline),
                    lateness
                );
                self.relay_as(&inc, text, Style::Reminder, &ping, out)
                    .await?;
            }
            other => tracing::warn!(timer = t.id, kind = other, "unknown timer kind ignored"),
        }
        Ok(())
    }
}
