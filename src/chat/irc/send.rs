//! Sending one message: to a channel, as a thread root, or directly to a person.

use super::config::{is_valid_channel, is_valid_nick};
use super::echo::{Echo, echo_by};
use super::flood::TokenBucket;
use super::{ECHO_WAIT, IrcAdapter, ThreadMode};
use crate::chat::{Outbound, SendError, Sent, Style};

impl IrcAdapter {
    /// A direct message to a person (escalation pings): no channel to join.
    async fn send_direct(
        &self,
        bucket: &mut TokenBucket,
        msg: &Outbound,
    ) -> Result<Sent, SendError> {
        self.link()?;
        let lines = self.render(msg, &msg.channel, msg.incident);
        self.write_lines(bucket, lines).await?;
        Ok(Sent {
            remote_id: self.synth_id(),
            thread: None,
        })
    }

    pub(super) async fn send_locked(
        &self,
        bucket: &mut TokenBucket,
        msg: &Outbound,
    ) -> Result<Sent, SendError> {
        if !is_valid_channel(&msg.channel) {
            if is_valid_nick(&msg.channel) && msg.thread.is_none() {
                return self.send_direct(bucket, msg).await;
            }
            return Err(SendError::Permanent(format!(
                "`{}` is not an IRC channel or nick",
                msg.channel
            )));
        }
        self.link()?;
        let mode = self
            .channel_config(&msg.channel)
            .map(|c| c.thread)
            .unwrap_or_default();
        let thread_incident = msg
            .thread
            .as_deref()
            .and_then(|t| t.strip_prefix("INC-"))
            .and_then(|n| n.parse::<i64>().ok());
        let incident = msg.incident.or(thread_incident);

        // Channel mode: a thread root opens the incident's own channel.
        if msg.style == Style::ThreadRoot
            && mode == ThreadMode::Channel
            && let Some(n) = incident
        {
            let inc = self.incident_channel_name(n);
            {
                let mut st = self.state();
                let f = st.fold(&inc);
                st.incident_channels.insert(f, msg.channel.clone());
            }
            self.ensure_joined(&inc).await?;
            self.ensure_joined(&msg.channel).await?;
            let mut lines = self.render(msg, &inc, None);
            let mut announce = msg.clone();
            announce.mentions.clear();
            announce.text = format!("{} (discussion in {inc})", msg.text);
            lines.extend(self.render(&announce, &msg.channel, None));
            self.write_lines(bucket, lines).await?;
            return Ok(Sent {
                remote_id: self.synth_id(),
                thread: Some(inc),
            });
        }

        let target = match msg.thread.as_deref() {
            Some(t) if is_valid_channel(t) => t.to_string(),
            _ => msg.channel.clone(),
        };
        let in_incident_channel = self.incident_of_channel(&target).is_some();
        let tag = if in_incident_channel { None } else { incident };
        self.ensure_joined(&target).await?;
        let lines = self.render(msg, &target, tag);
        if lines.is_empty() {
            return Err(SendError::Permanent("nothing to send (empty text)".into()));
        }
        // A thread root's id is the msgid of its first line's echo.
        let echo = if msg.style == Style::ThreadRoot {
            self.expect_echo(&target, &lines[0])
        } else {
            None
        };
        self.write_lines(bucket, lines).await?;
        let echoed = match echo {
            Some(rx) => match echo_by(rx, tokio::time::Instant::now() + ECHO_WAIT).await {
                Echo::Came(id) => Some(id).filter(|id| !id.is_empty()),
                // Written into a connection that died: the root reached nobody.
                Echo::Dropped => {
                    return Err(SendError::Retry {
                        after: None,
                        reason: self.echo_dropped(),
                    });
                }
                // Not echoed in time: the thread is known by the incident id instead.
                Echo::Late => None,
            },
            None => None,
        };
        let remote_id = echoed.clone().unwrap_or_else(|| self.synth_id());
        let thread = (msg.style == Style::ThreadRoot).then(|| {
            let root = match (echoed, incident) {
                (Some(id), _) => id,
                (None, Some(n)) => format!("INC-{n}"),
                (None, None) => remote_id.clone(),
            };
            if let Some(n) = incident {
                let mut st = self.state();
                let f = st.fold(&target);
                st.roots.insert((f, n), root.clone());
            }
            root
        });
        Ok(Sent { remote_id, thread })
    }
}
