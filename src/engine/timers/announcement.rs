//! Cron announcements: a configured text on a schedule.

use super::super::{Engine, TxBuffer, render};
use crate::domain::timer::TimerKind;
use crate::store::{NewTimer, StoreError, Timer};

impl Engine {
    pub(super) async fn fire_announcement(
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
        let text = render::announcement(&a.text, lateness);
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
