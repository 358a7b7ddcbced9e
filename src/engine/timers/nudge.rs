//! The "no status update" nudge: re-planned by every update, and re-armed when it fires.

use chrono::{DateTime, Utc};

use super::super::{Engine, TxBuffer, render};
use crate::chat::Style;
use crate::domain::incident::Incident;
use crate::domain::timeline::TimelineKind;
use crate::domain::timer::TimerKind;
use crate::store::{NewTimer, StoreError, Timer};

impl Engine {
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

    pub(super) async fn fire_nudge(
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
        let quiet = t.new.due_at - inc.last_update_at;
        let text = render::nudge(inc, quiet, ping.first().map(String::as_str), lateness);
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
}
