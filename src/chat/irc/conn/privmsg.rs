//! Incoming PRIVMSGs: our own echoes for waiting sends, and messages that become input.

use chrono::{DateTime, Utc};

use crate::chat::irc::message::Message;
use crate::chat::irc::split::strip_formatting;
use crate::chat::irc::{IrcAdapter, ThreadMode};
use crate::chat::{Author, Inbound, InboundKind, PlatformKind};

/// `INC-7: text` or `[INC-7] text` -> (7, "text").
pub(crate) fn incident_prefix(text: &str) -> Option<(i64, &str)> {
    let t = text.trim_start();
    let (inner, rest) = if let Some(r) = t.strip_prefix('[') {
        let (inner, rest) = r.split_once(']')?;
        (inner, rest)
    } else {
        let (inner, rest) = t.split_once(':')?;
        (inner, rest)
    };
    let n = inner
        .get(..4)
        .filter(|h| h.eq_ignore_ascii_case("INC-"))
        .and_then(|_| inner[4..].parse::<i64>().ok())
        .filter(|n| *n > 0)?;
    Some((n, rest.trim_start()))
}

pub(super) fn privmsg(
    adapter: &IrcAdapter,
    msg: &Message,
    nick: &str,
    received: DateTime<Utc>,
) -> Option<Inbound> {
    let target = msg.param(0)?;
    let raw = msg.param(1)?;
    let (own, joined, casemap) = {
        let st = adapter.state();
        (
            st.fold(nick) == st.fold(&st.nick),
            st.is_channel(target) && st.joined.contains_key(&st.fold(target)),
            st.casemap,
        )
    };
    if own {
        // Our echo: hand its msgid ("" without one) to a send waiting for it. Waits given up
        // go first, so they never take the echo of a later, identical message.
        let mut st = adapter.state();
        st.echo_waiters.retain(|w| !w.tx.is_closed());
        let tf = st.fold(target);
        if let Some(pos) = st
            .echo_waiters
            .iter()
            .position(|w| w.target == tf && w.text == raw)
            && let Some(w) = st.echo_waiters.remove(pos)
        {
            let _ = w.tx.send(msg.tag("msgid").unwrap_or_default().to_string());
        }
        return None;
    }
    if !joined {
        // Private messages and channels we are not in are not input.
        return None;
    }
    if adapter
        .cfg
        .ignore_nicks
        .iter()
        .any(|i| casemap.fold(i) == casemap.fold(nick))
    {
        return None;
    }
    let text = match raw.strip_prefix('\x01') {
        Some(ctcp) => {
            let ctcp = ctcp.trim_end_matches('\x01');
            ctcp.strip_prefix("ACTION ")
                .map(|a| format!("* {nick} {a}"))?
        }
        None => raw.to_string(),
    };
    let mut text = strip_formatting(&text);
    let sent_at = msg
        .tag("time")
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(received);
    let message_id = msg
        .tag("msgid")
        .map(str::to_string)
        .unwrap_or_else(|| adapter.synth_id());
    let mut thread = msg
        .tag("+reply")
        .or_else(|| msg.tag("+draft/reply"))
        .map(str::to_string);
    let mut incident_hint = None;
    let mut channel = target.to_string();
    if let Some(n) = adapter.incident_of_channel(target) {
        incident_hint = Some(n);
        let parent = {
            let st = adapter.state();
            st.incident_channels.get(&st.fold(target)).cloned()
        };
        channel = parent
            .or_else(|| {
                let cfgs = &adapter.cfg.channels;
                cfgs.iter()
                    .find(|c| c.thread == ThreadMode::Channel)
                    .or(cfgs.first())
                    .map(|c| c.id.clone())
            })
            .unwrap_or_else(|| target.to_string());
        thread = Some(target.to_string());
    } else if let Some((n, rest)) = incident_prefix(&text) {
        incident_hint = Some(n);
        let st = adapter.state();
        if thread.is_none() {
            thread = st.roots.get(&(st.fold(target), n)).cloned();
        }
        drop(st);
        text = rest.to_string();
    }
    Some(Inbound {
        platform: adapter.cfg.name.clone(),
        kind: PlatformKind::Irc,
        event: InboundKind::Message,
        channel,
        thread,
        incident_hint,
        author: Author {
            id: nick.to_string(),
            display: nick.to_string(),
        },
        text,
        message_id,
        sent_at,
        receipt: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incident_prefixes() {
        assert_eq!(incident_prefix("INC-7: on it"), Some((7, "on it")));
        assert_eq!(
            incident_prefix("[inc-12] db is back"),
            Some((12, "db is back"))
        );
        assert_eq!(incident_prefix("INC-x: no"), None);
        assert_eq!(incident_prefix("hello: INC-7"), None);
        assert_eq!(incident_prefix("INC-0: no"), None);
        assert_eq!(incident_prefix("€€: x"), None);
    }
}
