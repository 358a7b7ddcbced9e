//! Message rendering: an outbound message as IRC lines that fit the server's line length.

use super::config::is_valid_channel;
use super::message;
use super::split::{defang, neutralise_nicks, safe_lines, split_to_budget};
use super::{IrcAdapter, State};
use crate::chat::text::neutralise_controls;
use crate::chat::{Outbound, Style};

impl IrcAdapter {
    /// The payload bytes left on a `cmd target :` line after our own prefix.
    pub(super) fn budget(st: &State, cmd: &str, target: &str) -> usize {
        let mask_len = st
            .mask
            .as_ref()
            .map(String::len)
            // Unknown user@host: assume the longest usual USERLEN (10) and HOSTLEN (64).
            .unwrap_or(st.nick.len() + 1 + 10 + 1 + 64);
        let overhead = 2 + (1 + mask_len + 1) + (cmd.len() + 1 + target.len() + 2);
        st.linelen.saturating_sub(overhead).max(16)
    }

    /// Renders one message to `target` as full IRC lines (without CR LF).
    pub(super) fn render(
        &self,
        msg: &Outbound,
        target: &str,
        incident_tag: Option<i64>,
    ) -> Vec<String> {
        let cmd = if msg.style == Style::Reminder {
            "NOTICE"
        } else {
            "PRIVMSG"
        };
        self.render_as(msg, target, incident_tag, cmd)
    }

    /// `render` with the command chosen by the caller.
    pub(super) fn render_as(
        &self,
        msg: &Outbound,
        target: &str,
        incident_tag: Option<i64>,
        cmd: &str,
    ) -> Vec<String> {
        // Held throughout: the channel's members are read for every word, not copied.
        let st = self.state();
        let (members, casemap, tags) = {
            let f = st.fold(target);
            // A thread root that is a msgid: mark the line as a reply for clients that thread.
            let tags = match msg.thread.as_deref() {
                Some(t)
                    if st.caps.contains("message-tags")
                        && !t.starts_with("INC-")
                        && !is_valid_channel(t)
                        && !t.is_empty()
                        && t.len() <= 128 =>
                {
                    let t = message::escape_tag(t);
                    format!("@+draft/reply={t};+reply={t} ")
                }
                _ => String::new(),
            };
            (st.joined.get(&f).map(|j| &j.members), st.casemap, tags)
        };
        let neutral = |t: &str| {
            neutralise_nicks(t, |w| members.is_some_and(|m| m.contains(&casemap.fold(w))))
        };
        let mut line_prefix = String::new();
        if let Some(n) = incident_tag {
            line_prefix.push_str(&format!("[INC-{n}] "));
        }
        if msg.style == Style::Mirror
            && let Some(a) = &msg.author
        {
            let a: String = safe_lines(&neutralise_controls(a))
                .join(" ")
                .chars()
                .take(64)
                .collect();
            line_prefix.push_str(&defang(&a));
            line_prefix.push(' ');
        }
        let mut body = String::new();
        for m in &msg.mentions {
            if let Some(nick) = safe_lines(m).first() {
                body.push_str(&nick.replace(' ', ""));
                body.push_str(": ");
            }
        }
        // IRC cannot delete: say so, without repeating what was deleted.
        let text_lines = if msg.delete_of.is_some() {
            vec!["(message deleted)".to_string()]
        } else {
            if msg.edit_of.is_some() {
                body.push_str("(edited) ");
            }
            safe_lines(&neutralise_controls(&msg.text))
        };
        let budget = Self::budget(&st, cmd, target)
            .saturating_sub(line_prefix.len())
            .max(16);
        let mut out = Vec::new();
        let mut first = true;
        for tl in text_lines {
            let mut payload = neutral(&tl);
            if first {
                payload = format!("{body}{payload}");
                first = false;
            }
            for piece in split_to_budget(&payload, budget) {
                out.push(format!("{tags}{cmd} {target} :{line_prefix}{piece}"));
            }
        }
        if out.is_empty() && !body.trim().is_empty() {
            out.push(format!(
                "{tags}{cmd} {target} :{line_prefix}{}",
                body.trim_end()
            ));
        }
        out
    }
}
