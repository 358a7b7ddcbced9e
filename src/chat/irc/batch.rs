//! Plain messages (no thread root, to a channel) sent back to back, waiting once for the batch.

use super::IrcAdapter;
use super::config::is_valid_channel;
use super::flood::TokenBucket;
use crate::chat::{Outbound, SendError, Sent, Style};

impl IrcAdapter {
    /// A message with nothing to wait for but the socket: not a thread root, to a channel.
    pub(super) fn is_plain(msg: &Outbound) -> bool {
        msg.style != Style::ThreadRoot && !msg.bulk && is_valid_channel(&msg.channel)
    }

    /// Where a plain message goes, and the lines it takes there.
    async fn plain_lines(&self, msg: &Outbound) -> Result<(String, Vec<String>), SendError> {
        self.link()?;
        let incident = msg.incident.or_else(|| {
            msg.thread
                .as_deref()
                .and_then(|t| t.strip_prefix("INC-"))
                .and_then(|n| n.parse::<i64>().ok())
        });
        let target = match msg.thread.as_deref() {
            Some(t) if is_valid_channel(t) => t.to_string(),
            _ => msg.channel.clone(),
        };
        let tag = if self.incident_of_channel(&target).is_some() {
            None
        } else {
            incident
        };
        self.ensure_joined(&target).await?;
        let lines = self.render(msg, &target, tag);
        if lines.is_empty() {
            return Err(SendError::Permanent("nothing to send (empty text)".into()));
        }
        Ok((target, lines))
    }

    /// Queues plain messages back to back and waits once, for the last: a burst costs one
    /// hand-off to the writer per batch. Stops at the first failure.
    pub(super) async fn send_plain_batch(
        &self,
        bucket: &mut TokenBucket,
        msgs: &[Outbound],
        results: &mut Vec<Result<Sent, SendError>>,
    ) {
        let first = results.len();
        let mut queued = Vec::with_capacity(msgs.len());
        // One per message tried, in order (so `echoes[i]` is `results[first + i]`'s).
        let mut echoes = Vec::with_capacity(msgs.len());
        let mut failed = None;
        for msg in msgs {
            let queue = match self.plain_lines(msg).await {
                Ok((target, lines)) => {
                    // The server echoes lines in the order it took them: the echo of a
                    // message's last line means all of it arrived.
                    echoes.push(lines.last().and_then(|l| self.expect_echo(&target, l)));
                    self.queue_lines(bucket, lines).await
                }
                Err(e) => {
                    echoes.push(None);
                    Err(e)
                }
            };
            match queue {
                Ok(rx) => queued.push(rx),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        // Lines are written in order: once the last is on the socket, so are the others. If
        // the connection dropped, those written before it were written (and are confirmed
        // below where the server echoes).
        let last_written = match queued.pop() {
            Some(rx) => Some(self.written(rx).await.is_ok()),
            None => None,
        };
        let sent = || {
            Ok(Sent {
                remote_id: self.synth_id(),
                thread: None,
            })
        };
        'written: {
            for mut rx in queued {
                if rx.try_recv().is_err() {
                    results.push(Err(self.not_connected()));
                    break 'written;
                }
                results.push(sent());
            }
            match last_written {
                Some(true) => results.push(sent()),
                Some(false) => {
                    results.push(Err(self.not_connected()));
                    break 'written;
                }
                None => {}
            }
            if let Some(e) = failed {
                results.push(Err(e));
            }
        }
        self.confirm_echoes(first, echoes, results).await;
    }
}
