//! The escalation path: armed at the ack breach, one timer per step; each step pages by chat
//! (mentions and direct messages) or records what it could not send yet.

use super::super::{Engine, TxBuffer, render};
use crate::chat::Style;
use crate::domain::escalation::{Target, Via};
use crate::domain::incident::Incident;
use crate::domain::timeline::TimelineKind;
use crate::domain::timer::TimerKind;
use crate::store::{NewTimer, StoreError, Timer};

impl Engine {
    /// Arms one timer per step of the incident's escalation path, relative to the breach.
    pub(super) async fn start_escalation(
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

    /// After a severity change. Before the ack breach nothing is armed yet (the breach arms
    /// the path of the severity the incident has then). After it, the pending steps give way
    /// to the new severity's path: its steps still ahead are armed, and when some are
    /// already behind and no step has paged yet, the latest of those fires now, so raising
    /// the severity after a breach pages at once without replaying every step.
    pub(crate) async fn replan_escalation(
        &self,
        inc: &Incident,
        buf: &mut TxBuffer<'_>,
    ) -> Result<(), StoreError> {
        let breached = buf
            .tx
            .has_timeline(inc.id.0, TimelineKind::AckBreached.as_str())
            .await?;
        if !inc.awaits_ack() || !breached {
            return Ok(());
        }
        buf.tx
            .cancel_timers(inc.id.0, &[TimerKind::Escalation.as_str()])
            .await?;
        let Some(path) = self.settings.paging.escalation.path_for(inc.severity) else {
            return Ok(());
        };
        let paged = buf
            .tx
            .has_timeline(inc.id.0, TimelineKind::EscalationStep.as_str())
            .await?;
        let now = buf.now;
        let behind = path
            .steps
            .iter()
            .rposition(|s| inc.ack_deadline + s.after <= now);
        for (i, step) in path.steps.iter().enumerate() {
            let due_at = inc.ack_deadline + step.after;
            let due_at = if due_at > now {
                due_at
            } else if !paged && Some(i) == behind {
                now
            } else {
                continue;
            };
            buf.tx
                .add_timer(&NewTimer {
                    incident_id: Some(inc.id.0),
                    kind: TimerKind::Escalation.as_str().into(),
                    due_at,
                    payload: i.to_string(),
                })
                .await?;
            buf.timer_at(due_at);
        }
        Ok(())
    }

    pub(super) async fn fire_escalation_step(
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
                let dm = render::paged(inc, i + 1, n, lateness);
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
                render::escalation_paging(inc, i + 1, n, &who, lateness),
                names,
            ),
            _ => (
                render::escalation_unsent(inc, i + 1, n, step.via.as_str(), &who, lateness),
                Vec::new(),
            ),
        };
        self.relay_as(inc, text, Style::Reminder, &ping, buf).await
    }

    /// Direct messages to `names` on every connected platform (Slack: the app's DM, IRC: a
    /// NOTICE to the nick, Rocket.Chat: the `@username` room, the console); returns where they
    /// went.
    pub(super) async fn direct_messages(
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
}
