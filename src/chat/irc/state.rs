//! What `send` and the connection loop share: the connection state and its parts.

use std::collections::{HashMap, HashSet, VecDeque};

use tokio::sync::{mpsc, oneshot};

/// Nick comparison per the server's CASEMAPPING.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CaseMap {
    Ascii,
    Rfc1459,
}

impl CaseMap {
    pub(crate) fn fold(self, s: &str) -> String {
        s.chars()
            .map(|c| match (self, c) {
                (CaseMap::Rfc1459, '[') => '{',
                (CaseMap::Rfc1459, ']') => '}',
                (CaseMap::Rfc1459, '\\') => '|',
                (CaseMap::Rfc1459, '~') => '^',
                (_, c) => c.to_ascii_lowercase(),
            })
            .collect()
    }
}

/// A line for the writer; `done` fires once it is written to the socket.
pub(crate) struct Outgoing {
    pub line: String,
    pub done: Option<oneshot::Sender<()>>,
}

pub(crate) struct Joined {
    pub members: HashSet<String>,
}

pub(crate) struct EchoWaiter {
    pub target: String,
    pub text: String,
    pub tx: oneshot::Sender<String>,
}

/// What `send` and the connection loop share. Held only briefly, never across an await.
pub(crate) struct State {
    /// The live, registered connection's writer.
    pub link: Option<mpsc::UnboundedSender<Outgoing>>,
    pub nick: String,
    /// Our `nick!user@host` as others see it.
    pub mask: Option<String>,
    pub linelen: usize,
    pub casemap: CaseMap,
    pub chantypes: String,
    pub caps: HashSet<String>,
    /// Joined channels by folded name.
    pub joined: HashMap<String, Joined>,
    pub join_waiters: HashMap<String, Vec<oneshot::Sender<Result<(), String>>>>,
    pub echo_waiters: VecDeque<EchoWaiter>,
    /// Incident channel (folded) -> the channel it was announced in.
    pub incident_channels: HashMap<String, String>,
    /// (folded channel, incident) -> thread root id returned for it.
    pub roots: HashMap<(String, i64), String>,
    pub seq: u64,
}

impl State {
    pub(super) fn new(nick: &str) -> State {
        State {
            link: None,
            nick: nick.to_string(),
            mask: None,
            linelen: 512,
            casemap: CaseMap::Rfc1459,
            chantypes: "#&".into(),
            caps: HashSet::new(),
            joined: HashMap::new(),
            join_waiters: HashMap::new(),
            echo_waiters: VecDeque::new(),
            incident_channels: HashMap::new(),
            roots: HashMap::new(),
            seq: 0,
        }
    }

    pub(crate) fn fold(&self, s: &str) -> String {
        self.casemap.fold(s)
    }

    pub(crate) fn is_channel(&self, s: &str) -> bool {
        s.starts_with(|c: char| self.chantypes.contains(c))
    }

    /// Forgets everything tied to a connection that is gone.
    pub(crate) fn disconnected(&mut self) {
        self.link = None;
        self.joined.clear();
        self.join_waiters.clear();
        self.echo_waiters.clear();
        self.caps.clear();
    }
}
