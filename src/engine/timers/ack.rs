//! Before the ack deadline, reminders; at it, the breach, which starts the escalation.

use super::super::{Engine, TxBuffer, render};
use crate::chat::Style;
use crate::domain::incident::Incident;
use crate::domain::timeline::TimelineKind;
use crate::store::{StoreError, Timer};

impl Engine {
    pub(super) async fn fire_reminder(
        &self,
        inc: &Incident,
        t: &Timer,
        lateness: &str,
        ping: &[String],
        buf: &mut TxBuffer<'_>,
    ) -> Result<(), StoreError> {
        let text = render::ack_reminder(&self.settings.calendar, inc, t.new.due_at, lateness);
        self.relay_as(inc, text, Style::Reminder, ping, buf).await
    }

    pub(super) async fn fire_breach(
        &self,
        inc: &Incident,
        t: &Timer,
        lateness: &str,
        ping: &[String],
        buf: &mut TxBuffer<'_>,
    ) -> Result<(), StoreError> {
        self.flare_event(inc, t, TimelineKind::AckBreached, lateness.trim(), buf)
            .await?;
        let text = render::ack_breached(&self.settings.calendar, inc, lateness);
        self.relay_as(inc, text, Style::Reminder, ping, buf).await?;
        self.start_escalation(inc, t, buf).await
    }
}
