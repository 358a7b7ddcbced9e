//! Plain messages (no thread root, to a channel) sent back to back, waiting once for the batch.

use super::IrcAdapter;
use super::config::is_valid_channel;
use super::flood::TokenBucket;
use super::split::pack;
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

    /// A relayed message that may share a line with the next ones.
    fn packable(msg: &Outbound) -> bool {
        msg.style == Style::Mirror
            && msg.edit_of.is_none()
            && msg.delete_of.is_none()
            && msg.mentions.is_empty()
            && !msg.bulk
    }

    /// Where a rendered line's shared part ends: `cmd target :` and the incident tag.
    fn head_len(line: &str) -> Option<usize> {
        let start = line.find(" :")? + 2;
        let rest = &line[start..];
        let tag = if rest.starts_with("[INC-") {
            rest.find("] ").map_or(0, |i| i + 2)
        } else {
            0
        };
        Some(start + tag)
    }

    /// `msgs[i]` and the short relayed messages right after it that can share its lines (same
    /// place, one line each): their lines packed, and how many messages they hold.
    async fn packed_lines(
        &self,
        msgs: &[Outbound],
        target: &str,
        first: Vec<String>,
    ) -> (Vec<String>, usize) {
        let lead = &msgs[0];
        let head = match (Self::packable(lead), first.as_slice()) {
            (true, [line]) => Self::head_len(line),
            _ => None,
        };
        let Some(head) = head else {
            return (first, 1);
        };
        let prefix = first[0][..head].to_string();
        let mut payloads = vec![first[0][head..].to_string()];
        for m in &msgs[1..] {
            if !Self::packable(m)
                || m.channel != lead.channel
                || m.thread != lead.thread
                || m.incident != lead.incident
            {
                break;
            }
            match self.plain_lines(m).await {
                Ok((t, lines))
                    if t == target && lines.len() == 1 && lines[0].starts_with(&prefix) =>
                {
                    payloads.push(lines[0][prefix.len()..].to_string());
                }
                _ => break,
            }
        }
        let n = payloads.len();
        if n == 1 {
            return (first, 1);
        }
        let tag_len = head - (first[0].find(" :").map_or(head, |i| i + 2));
        let budget = {
            let st = self.state();
            Self::budget(&st, "PRIVMSG", target).saturating_sub(tag_len)
        };
        let refs: Vec<&str> = payloads.iter().map(String::as_str).collect();
        let lines = pack(&refs, budget)
            .into_iter()
            .map(|(payload, _)| format!("{prefix}{payload}"))
            .collect();
        (lines, n)
    }

    /// Queues plain messages back to back and waits once, for the last: a burst costs one
    /// hand-off to the writer per batch. Short relayed messages to one place are packed into
    /// shared lines (`<alice@slack> x | <bob@rc> y`). Stops at the first failure.
    pub(super) async fn send_plain_batch(
        &self,
        bucket: &mut TokenBucket,
        msgs: &[Outbound],
        results: &mut Vec<Result<Sent, SendError>>,
    ) {
        let first = results.len();
        // One per group of messages sharing lines, with how many messages it holds.
        let mut queued = Vec::with_capacity(msgs.len());
        // One per message tried, in order (so `echoes[i]` is `results[first + i]`'s); a
        // group's echo (of its last line) is its first message's, so a lost line retries the
        // whole group.
        let mut echoes = Vec::with_capacity(msgs.len());
        let mut failed = None;
        let mut i = 0;
        while i < msgs.len() {
            let queue = match self.plain_lines(&msgs[i]).await {
                Ok((target, lines)) => {
                    let (lines, n) = self.packed_lines(&msgs[i..], &target, lines).await;
                    // The server echoes lines in the order it took them: the echo of a
                    // group's last line means all of it arrived.
                    echoes.push(lines.last().and_then(|l| self.expect_echo(&target, l)));
                    echoes.extend((1..n).map(|_| None));
                    self.queue_lines(bucket, lines).await.map(|rx| (rx, n))
                }
                Err(e) => {
                    echoes.push(None);
                    Err(e)
                }
            };
            match queue {
                Ok((rx, n)) => {
                    queued.push((rx, n));
                    i += n;
                }
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
            Some((rx, n)) => Some((self.written(rx).await.is_ok(), n)),
            None => None,
        };
        let sent = || {
            Ok(Sent {
                remote_id: self.synth_id(),
                thread: None,
            })
        };
        'written: {
            for (mut rx, n) in queued {
                if rx.try_recv().is_err() {
                    results.push(Err(self.not_connected()));
                    break 'written;
                }
                results.extend((0..n).map(|_| sent()));
            }
            match last_written {
                Some((true, n)) => results.extend((0..n).map(|_| sent())),
                Some((false, _)) => {
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
