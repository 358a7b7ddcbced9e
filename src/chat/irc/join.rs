//! Channel joining, and the incident channels Flare opens in channel thread mode.

use tokio::sync::oneshot;

use super::message::Message;
use super::{IrcAdapter, IrcChannelConfig, JOIN_WAIT, Outgoing};
use crate::chat::{IncidentThread, SendError};

impl IrcAdapter {
    pub(crate) fn channel_config(&self, channel: &str) -> Option<&IrcChannelConfig> {
        let cm = self.state().casemap;
        let f = cm.fold(channel);
        self.cfg.channels.iter().find(|c| cm.fold(&c.id) == f)
    }

    pub(crate) fn incident_channel_name(&self, n: i64) -> String {
        format!("#{}-inc-{n}", self.cfg.incident_channel_prefix)
    }

    /// `#flare-inc-7` -> 7.
    pub(crate) fn incident_of_channel(&self, channel: &str) -> Option<i64> {
        let head = format!("#{}-inc-", self.cfg.incident_channel_prefix);
        let c = channel.to_ascii_lowercase();
        c.strip_prefix(&head.to_ascii_lowercase())
            .and_then(|n| n.parse::<i64>().ok())
            .filter(|n| *n > 0)
    }

    /// Remembers the incident channels of open incidents (from the database), so every
    /// connection joins them as it joins the configured channels.
    pub(crate) fn restore_incident_channels(&self, threads: &[IncidentThread]) {
        let mut st = self.state();
        for t in threads {
            if self.incident_of_channel(&t.thread) == Some(t.incident) {
                let f = st.fold(&t.thread);
                st.incident_channels.insert(f, t.channel.clone());
            }
        }
    }

    /// Makes sure Flare is in `channel`, joining it if needed.
    pub(super) async fn ensure_joined(&self, channel: &str) -> Result<(), SendError> {
        let rx = {
            let mut st = self.state();
            let f = st.fold(channel);
            if st.joined.contains_key(&f) {
                return Ok(());
            }
            let link = st.link.clone().ok_or_else(|| self.not_connected())?;
            let (tx, rx) = oneshot::channel();
            let first = !st.join_waiters.contains_key(&f);
            st.join_waiters.entry(f).or_default().push(tx);
            if first {
                let key = self
                    .cfg
                    .channels
                    .iter()
                    .find(|c| st.casemap.fold(&c.id) == st.fold(channel))
                    .and_then(|c| c.key.clone());
                let line = match key {
                    Some(k) => Message::new("JOIN", &[channel, &k]).to_string(),
                    None => Message::new("JOIN", &[channel]).to_string(),
                };
                let _ = link.send(Outgoing { line, done: None });
            }
            rx
        };
        match tokio::time::timeout(JOIN_WAIT, rx).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(why))) => Err(SendError::Permanent(format!(
                "cannot join {channel} on IRC network `{}`: {why}",
                self.cfg.name
            ))),
            Ok(Err(_)) => Err(self.not_connected()),
            Err(_) => Err(SendError::Retry {
                after: None,
                reason: format!("no answer to JOIN {channel} on `{}`", self.cfg.name),
            }),
        }
    }
}
