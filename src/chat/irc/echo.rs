//! Echo confirmation: waiting for the server to echo our messages back (echo-message).

use tokio::sync::oneshot;

use super::state::EchoWaiter;
use super::{ECHO_WAIT, IrcAdapter};
use crate::chat::{SendError, Sent};

/// How waiting for one of our messages to be echoed back ended.
pub(super) enum Echo {
    /// With its msgid, "" when the server gives none.
    Came(String),
    /// The connection dropped first (its waiters are cleared).
    Dropped,
    /// Not by the deadline.
    Late,
}

pub(super) async fn echo_by(rx: oneshot::Receiver<String>, deadline: tokio::time::Instant) -> Echo {
    match tokio::time::timeout_at(deadline, rx).await {
        Ok(Ok(id)) => Echo::Came(id),
        Ok(Err(_)) => Echo::Dropped,
        Err(_) => Echo::Late,
    }
}

impl IrcAdapter {
    pub(super) fn echo_dropped(&self) -> String {
        format!(
            "the connection to IRC network `{}` dropped before the server echoed the message",
            self.cfg.name
        )
    }

    /// Waits for the server's echo of `line` (a PRIVMSG to `target`), where the connection
    /// has echo-message; `None` otherwise. The echo carries the message's msgid, or "" when
    /// the server gives none.
    pub(super) fn expect_echo(
        &self,
        target: &str,
        line: &str,
    ) -> Option<oneshot::Receiver<String>> {
        let mut st = self.state();
        if !st.caps.contains("echo-message") {
            return None;
        }
        // `@tags PRIVMSG target :text` or `PRIVMSG target :text`.
        let command = line
            .strip_prefix('@')
            .and_then(|l| l.split_once(' ').map(|(_, rest)| rest))
            .unwrap_or(line);
        if !command.starts_with("PRIVMSG ") {
            return None;
        }
        let text = command.split_once(" :").map(|(_, t)| t.to_string())?;
        let (tx, rx) = oneshot::channel();
        let target = st.fold(target);
        st.echo_waiters.push_back(EchoWaiter { target, text, tx });
        Some(rx)
    }

    /// Where the server echoes our messages back, a message counts as sent only once its echo
    /// arrived: a line written into a connection that is already dead (the server went away a
    /// moment before) reaches nobody, and the socket write alone cannot tell. The first
    /// message from `results[first]` on whose echo does not come is to be retried, and the
    /// ones after it are left untried.
    pub(super) async fn confirm_echoes(
        &self,
        first: usize,
        echoes: Vec<Option<oneshot::Receiver<String>>>,
        results: &mut Vec<Result<Sent, SendError>>,
    ) {
        let deadline = tokio::time::Instant::now() + ECHO_WAIT;
        for (i, echo) in echoes.into_iter().enumerate() {
            let at = first + i;
            if !results.get(at).is_some_and(Result::is_ok) {
                return;
            }
            let Some(rx) = echo else {
                continue;
            };
            let reason = match echo_by(rx, deadline).await {
                Echo::Came(_) => continue,
                Echo::Dropped => self.echo_dropped(),
                Echo::Late => format!(
                    "IRC network `{}` did not echo the message within {}s",
                    self.cfg.name,
                    ECHO_WAIT.as_secs()
                ),
            };
            results.truncate(at);
            results.push(Err(SendError::Retry {
                after: None,
                reason,
            }));
            return;
        }
    }
}
