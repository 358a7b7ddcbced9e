//! Registration: PASS, `CAP LS 302` (multi-line), `CAP REQ` for offered caps only, SASL PLAIN,
//! NICK/USER with fallback nicks, up to `001`. Pure: lines in, lines and outcomes out.

use std::collections::{BTreeMap, HashSet};

use base64::Engine as _;

use super::message::Message;

/// Caps Flare uses when a server offers them. `msgid` comes with `message-tags`.
const WANTED: &[&str] = &["message-tags", "server-time", "echo-message"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Write this line.
    Send(String),
    /// Registered as `nick`; `mask` is `nick!user@host` when the server told us.
    Welcome {
        nick: String,
        mask: Option<String>,
        caps: HashSet<String>,
    },
    /// Retrying cannot help (bad password, SASL failure).
    Fatal(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    CapLs,
    CapReq,
    Sasl,
    Ended,
}

pub struct Registration {
    nicks: Vec<String>,
    nick_index: usize,
    nick: String,
    username: String,
    realname: String,
    password: Option<String>,
    sasl: Option<(String, String)>,
    phase: Phase,
    offered: BTreeMap<String, Option<String>>,
    acked: HashSet<String>,
}

impl Registration {
    pub fn new(
        nicks: Vec<String>,
        username: String,
        realname: String,
        password: Option<String>,
        sasl: Option<(String, String)>,
    ) -> Registration {
        let nick = nicks.first().cloned().unwrap_or_else(|| "flare".into());
        Registration {
            nicks,
            nick_index: 0,
            nick,
            username,
            realname,
            password,
            sasl,
            phase: Phase::CapLs,
            offered: BTreeMap::new(),
            acked: HashSet::new(),
        }
    }

    pub fn nick(&self) -> &str {
        &self.nick
    }

    /// The opening lines.
    pub fn start(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(p) = &self.password {
            out.push(Message::new("PASS", &[p]).to_string());
        }
        out.push("CAP LS 302".into());
        out.push(format!("NICK {}", self.nick));
        out.push(Message::new("USER", &[&self.username, "0", "*", &self.realname]).to_string());
        out
    }

    fn end_caps(&mut self, out: &mut Vec<Step>) {
        if self.phase != Phase::Ended {
            self.phase = Phase::Ended;
            out.push(Step::Send("CAP END".into()));
        }
    }

    fn next_nick(&mut self) -> String {
        self.nick_index += 1;
        self.nick = match self.nicks.get(self.nick_index) {
            Some(n) => n.clone(),
            None => {
                // Out of configured fallbacks: keep it short for servers with NICKLEN 9.
                let base: String = self
                    .nicks
                    .first()
                    .map_or("flare", |s| s)
                    .chars()
                    .take(5)
                    .collect();
                format!("{base}{}", rand::random_range(1000..10000u32))
            }
        };
        self.nick.clone()
    }

    /// Feeds one server message received before `001`.
    pub fn on_message(&mut self, m: &Message) -> Vec<Step> {
        let mut out = Vec::new();
        match m.command.as_str() {
            "CAP" => self.on_cap(m, &mut out),
            "AUTHENTICATE" if m.param(0) == Some("+") && self.phase == Phase::Sasl => {
                if let Some((user, pass)) = &self.sasl {
                    let raw = format!("{user}\0{user}\0{pass}");
                    let b64 = base64::engine::general_purpose::STANDARD.encode(raw.as_bytes());
                    for chunk in b64.as_bytes().chunks(400) {
                        out.push(Step::Send(format!(
                            "AUTHENTICATE {}",
                            String::from_utf8_lossy(chunk)
                        )));
                    }
                    if b64.len() % 400 == 0 {
                        out.push(Step::Send("AUTHENTICATE +".into()));
                    }
                }
            }
            "903" | "907" => self.end_caps(&mut out),
            "904" | "905" | "906" | "902" => {
                let why = m.params.last().cloned().unwrap_or_default();
                out.push(Step::Fatal(format!(
                    "SASL login failed ({} {why})",
                    m.command
                )));
            }
            "433" | "432" | "436" | "437" => {
                let n = self.next_nick();
                tracing::info!(nick = %n, code = %m.command, "nick refused, trying a fallback");
                out.push(Step::Send(format!("NICK {n}")));
            }
            "464" => out.push(Step::Fatal("server password rejected (464)".into())),
            "ERROR" => {
                let why = m.params.last().cloned().unwrap_or_default();
                let l = why.to_ascii_lowercase();
                if l.contains("password") || l.contains("access denied") {
                    out.push(Step::Fatal(format!("server refused the connection: {why}")));
                }
            }
            "001" => {
                if let Some(n) = m.param(0) {
                    self.nick = n.to_string();
                }
                let mask = m
                    .params
                    .last()
                    .and_then(|t| t.split(' ').next_back())
                    .filter(|w| w.contains('!') && w.contains('@'))
                    .map(str::to_string);
                self.end_caps(&mut out);
                out.push(Step::Welcome {
                    nick: self.nick.clone(),
                    mask,
                    caps: self.acked.clone(),
                });
            }
            _ => {}
        }
        out
    }

    fn on_cap(&mut self, m: &Message, out: &mut Vec<Step>) {
        let sub = m.param(1).unwrap_or("").to_ascii_uppercase();
        let more = m.params.len() >= 4 && m.param(2) == Some("*");
        let list = m.params.last().map(String::as_str).unwrap_or("");
        match sub.as_str() {
            "LS" if self.phase == Phase::CapLs => {
                for cap in list.split(' ').filter(|c| !c.is_empty()) {
                    let (k, v) = match cap.split_once('=') {
                        Some((k, v)) => (k, Some(v.to_string())),
                        None => (cap, None),
                    };
                    self.offered.insert(k.to_string(), v);
                }
                if more {
                    return;
                }
                let mut req: Vec<&str> = WANTED
                    .iter()
                    .copied()
                    .filter(|c| self.offered.contains_key(*c))
                    .collect();
                if self.sasl.is_some() {
                    match self.offered.get("sasl") {
                        Some(v)
                            if v.as_deref()
                                .is_none_or(|v| v.split(',').any(|x| x == "PLAIN")) =>
                        {
                            req.push("sasl")
                        }
                        Some(_) => out.push(Step::Fatal("server offers SASL but not PLAIN".into())),
                        None => tracing::warn!(
                            "SASL is configured but the server does not offer it; continuing without"
                        ),
                    }
                }
                if req.is_empty() {
                    self.end_caps(out);
                } else {
                    self.phase = Phase::CapReq;
                    out.push(Step::Send(format!("CAP REQ :{}", req.join(" "))));
                }
            }
            "ACK" if self.phase == Phase::CapReq => {
                for c in list
                    .split(' ')
                    .filter(|c| !c.is_empty() && !c.starts_with('-'))
                {
                    self.acked.insert(c.to_string());
                }
                if self.acked.contains("sasl") && self.sasl.is_some() {
                    self.phase = Phase::Sasl;
                    out.push(Step::Send("AUTHENTICATE PLAIN".into()));
                } else {
                    self.end_caps(out);
                }
            }
            "NAK" if self.phase == Phase::CapReq => {
                tracing::warn!(caps = %list, "server refused our capability request; continuing without");
                if self.sasl.is_some() {
                    out.push(Step::Fatal("server refused the SASL capability".into()));
                } else {
                    self.end_caps(out);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(r: &mut Registration, line: &str) -> Vec<Step> {
        r.on_message(&Message::parse(line).expect("test line parses"))
    }

    fn reg(sasl: bool) -> Registration {
        Registration::new(
            vec!["flare".into(), "flare_".into()],
            "flare".into(),
            "Flare".into(),
            Some("pw".into()),
            sasl.then(|| ("acct".into(), "secret".into())),
        )
    }

    #[test]
    fn requests_only_offered_caps_across_multiline_ls() {
        let mut r = reg(false);
        assert_eq!(r.start()[0], "PASS pw");
        assert!(feed(&mut r, ":s CAP * LS * :multi-prefix server-time").is_empty());
        let s = feed(&mut r, ":s CAP * LS :message-tags batch");
        assert_eq!(
            s,
            vec![Step::Send("CAP REQ :message-tags server-time".into())]
        );
        let s = feed(&mut r, ":s CAP * ACK :message-tags server-time");
        assert_eq!(s, vec![Step::Send("CAP END".into())]);
    }

    #[test]
    fn no_wanted_caps_ends_at_once() {
        let mut r = reg(false);
        let s = feed(&mut r, ":s CAP * LS :multi-prefix");
        assert_eq!(s, vec![Step::Send("CAP END".into())]);
    }

    #[test]
    fn sasl_plain_flow_and_failure() {
        let mut r = reg(true);
        feed(&mut r, ":s CAP * LS :sasl=PLAIN,EXTERNAL message-tags");
        let s = feed(&mut r, ":s CAP * ACK :message-tags sasl");
        assert_eq!(s, vec![Step::Send("AUTHENTICATE PLAIN".into())]);
        let s = feed(&mut r, "AUTHENTICATE +");
        assert_eq!(
            s,
            vec![Step::Send("AUTHENTICATE YWNjdABhY2N0AHNlY3JldA==".into())]
        );
        let s = feed(&mut r, ":s 904 * :SASL authentication failed");
        assert!(matches!(&s[0], Step::Fatal(e) if e.contains("SASL")));
    }

    #[test]
    fn fallback_nicks_then_generated() {
        let mut r = reg(false);
        assert_eq!(
            feed(&mut r, ":s 433 * flare :in use"),
            vec![Step::Send("NICK flare_".into())]
        );
        let s = feed(&mut r, ":s 432 * flare_ :bad");
        assert!(
            matches!(&s[0], Step::Send(l) if l.starts_with("NICK flare") && l.len() == 14),
            "{s:?}"
        );
    }

    #[test]
    fn welcome_reports_nick_and_mask() {
        let mut r = reg(false);
        feed(&mut r, ":s CAP * LS :multi-prefix");
        let s = feed(
            &mut r,
            ":s 001 flare_ :Welcome to the net flare_!~flare@127.0.0.1",
        );
        assert_eq!(
            s.last(),
            Some(&Step::Welcome {
                nick: "flare_".into(),
                mask: Some("flare_!~flare@127.0.0.1".into()),
                caps: HashSet::new()
            })
        );
    }

    #[test]
    fn bad_password_is_fatal() {
        let mut r = reg(false);
        let s = feed(&mut r, "ERROR :Access denied: Bad password?");
        assert!(matches!(&s[0], Step::Fatal(_)));
    }
}
