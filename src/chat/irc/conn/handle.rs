//! Server messages after registration: joins, parts, kicks, nicks, names and ISUPPORT.

use chrono::{DateTime, Utc};

use super::privmsg::privmsg;
use crate::chat::Inbound;
use crate::chat::irc::message::Message;
use crate::chat::irc::{CaseMap, IrcAdapter, Joined};

/// JOINs the configured channels and the incident channels we opened, keyed ones with keys.
pub(super) fn join_all(adapter: &IrcAdapter, send: &impl Fn(String)) {
    for c in &adapter.cfg.channels {
        let line = match &c.key {
            Some(k) => Message::new("JOIN", &[&c.id, k]).to_string(),
            None => Message::new("JOIN", &[&c.id]).to_string(),
        };
        send(line);
    }
    let st = adapter.state();
    let configured: Vec<String> = adapter
        .cfg
        .channels
        .iter()
        .map(|c| st.fold(&c.id))
        .collect();
    for inc in st.incident_channels.keys() {
        if !configured.contains(inc) {
            send(Message::new("JOIN", &[inc]).to_string());
        }
    }
}

fn apply_isupport(adapter: &IrcAdapter, msg: &Message) {
    let mut st = adapter.state();
    let n = msg.params.len();
    for tok in msg.params.iter().take(n.saturating_sub(1)).skip(1) {
        let (k, v) = tok.split_once('=').unwrap_or((tok, ""));
        match k {
            "LINELEN" => {
                if let Ok(l) = v.parse::<usize>()
                    && (512..=65536).contains(&l)
                {
                    st.linelen = l;
                }
            }
            "CASEMAPPING" => {
                st.casemap = if v.eq_ignore_ascii_case("ascii") {
                    CaseMap::Ascii
                } else {
                    CaseMap::Rfc1459
                }
            }
            "CHANTYPES" if !v.is_empty() => st.chantypes = v.to_string(),
            _ => {}
        }
    }
}

/// Handles one message after registration; returns an inbound event for the engine, if any.
pub(super) fn handle(
    adapter: &IrcAdapter,
    msg: &Message,
    received: DateTime<Utc>,
    send: &impl Fn(String),
) -> Option<Inbound> {
    let name = &adapter.cfg.name;
    let nick = msg.source_nick().unwrap_or("").to_string();
    match msg.command.as_str() {
        "005" => apply_isupport(adapter, msg),
        "396" => {
            // Our visible host changed (cloak).
            let mut st = adapter.state();
            if let Some(host) = msg.param(1) {
                let user = st
                    .mask
                    .as_deref()
                    .and_then(|m| m.split_once('!'))
                    .and_then(|(_, uh)| uh.split_once('@'))
                    .map(|(u, _)| u.to_string());
                if let Some(u) = user {
                    st.mask = Some(format!("{}!{u}@{host}", st.nick));
                }
            }
        }
        "NICK" => {
            let mut st = adapter.state();
            let new = msg.param(0).unwrap_or("").to_string();
            let (old_f, new_f) = (st.fold(&nick), st.fold(&new));
            if old_f == st.fold(&st.nick) {
                st.mask = msg
                    .prefix
                    .as_deref()
                    .and_then(|p| p.split_once('!'))
                    .map(|(_, uh)| format!("{new}!{uh}"));
                st.nick = new;
            }
            for j in st.joined.values_mut() {
                if j.members.remove(&old_f) {
                    j.members.insert(new_f.clone());
                }
            }
        }
        "JOIN" => {
            let chan = msg.param(0).unwrap_or("").to_string();
            let mut st = adapter.state();
            let f = st.fold(&chan);
            let nf = st.fold(&nick);
            if nf == st.fold(&st.nick) {
                if let Some(p) = &msg.prefix {
                    st.mask = Some(p.clone());
                }
                st.joined.insert(
                    f.clone(),
                    Joined {
                        members: Default::default(),
                    },
                );
                for w in st.join_waiters.remove(&f).unwrap_or_default() {
                    let _ = w.send(Ok(()));
                }
                tracing::info!(network = %name, channel = %chan, "joined");
            } else if let Some(j) = st.joined.get_mut(&f) {
                j.members.insert(nf);
            }
        }
        "353" => {
            let mut st = adapter.state();
            if let (Some(chan), Some(names)) = (msg.param(2), msg.params.last()) {
                let f = st.fold(chan);
                let folded: Vec<String> = names
                    .split(' ')
                    .map(|n| n.trim_start_matches(['~', '&', '@', '%', '+']))
                    .filter(|n| !n.is_empty())
                    .map(|n| st.fold(n.split('!').next().unwrap_or(n)))
                    .collect();
                if let Some(j) = st.joined.get_mut(&f) {
                    j.members.extend(folded);
                }
            }
        }
        "PART" | "KICK" => {
            let chan = msg.param(0).unwrap_or("").to_string();
            let who = if msg.command == "KICK" {
                msg.param(1).unwrap_or("").to_string()
            } else {
                nick.clone()
            };
            let mut st = adapter.state();
            let f = st.fold(&chan);
            let wf = st.fold(&who);
            if wf == st.fold(&st.nick) {
                st.joined.remove(&f);
                let wanted = adapter.cfg.channels.iter().any(|c| st.fold(&c.id) == f)
                    || st.incident_channels.contains_key(&f);
                if msg.command == "KICK" && wanted {
                    tracing::warn!(network = %name, channel = %chan, by = %nick, "kicked; rejoining");
                    let key = adapter
                        .cfg
                        .channels
                        .iter()
                        .find(|c| st.fold(&c.id) == f)
                        .and_then(|c| c.key.clone());
                    drop(st);
                    send(match key {
                        Some(k) => Message::new("JOIN", &[&chan, &k]).to_string(),
                        None => Message::new("JOIN", &[&chan]).to_string(),
                    });
                }
            } else if let Some(j) = st.joined.get_mut(&f) {
                j.members.remove(&wf);
            }
        }
        "QUIT" => {
            let mut st = adapter.state();
            let nf = st.fold(&nick);
            for j in st.joined.values_mut() {
                j.members.remove(&nf);
            }
        }
        // JOIN refused: the channel cannot be joined, retrying will not help.
        "403" | "405" | "471" | "473" | "474" | "475" | "476" | "477" | "479" | "489" => {
            if let Some(chan) = msg.param(1) {
                let mut st = adapter.state();
                let f = st.fold(chan);
                let why = format!(
                    "{} {}",
                    msg.command,
                    msg.params.last().cloned().unwrap_or_default()
                );
                let waiters = st.join_waiters.remove(&f).unwrap_or_default();
                if waiters.is_empty() {
                    tracing::warn!(network = %name, channel = %chan, %why, "cannot join");
                }
                for w in waiters {
                    let _ = w.send(Err(why.clone()));
                }
            }
        }
        "PRIVMSG" => return privmsg(adapter, msg, &nick, received),
        _ => {}
    }
    None
}
