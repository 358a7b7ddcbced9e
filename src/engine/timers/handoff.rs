//! Rotation handoffs: who is on call now and next, announced at each handoff.

use super::super::{Engine, TxBuffer, render};
use crate::domain::timer::TimerKind;
use crate::store::{NewTimer, StoreError, Timer};

impl Engine {
    pub(super) async fn fire_handoff(
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
        let text = render::handoff(&self.settings.calendar, &r.name, &cur, &next, lateness);
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
}
