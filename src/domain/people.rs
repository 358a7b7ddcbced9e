//! The people directory: one person, one identity per platform, so "alice on Slack" and
//! "alice on IRC" are the same responder.

use crate::domain::platform::PlatformKind;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub slack: Option<String>,
    pub rocketchat: Option<String>,
    pub irc: Option<String>,
    pub console: Option<String>,
    pub email: Option<String>,
    pub responder: bool,
}

impl Person {
    /// This person's id on a kind of platform.
    pub fn identity(&self, kind: PlatformKind) -> Option<&str> {
        match kind {
            PlatformKind::Slack => self.slack.as_deref(),
            PlatformKind::RocketChat => self.rocketchat.as_deref(),
            PlatformKind::Irc => self.irc.as_deref(),
            PlatformKind::Console => self.console.as_deref().or(Some(self.name.as_str())),
        }
    }
}

/// Who did something: a known person, or a platform identity Flare has never been told about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The person's name, or `platform:user-id` for people not in the directory.
    pub key: String,
    pub display: String,
    pub responder: bool,
    pub known: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Directory {
    people: Vec<Person>,
}

fn same_id(kind: PlatformKind, a: &str, b: &str) -> bool {
    match kind {
        // IRC nicks and Rocket.Chat usernames are case-insensitive.
        PlatformKind::Irc | PlatformKind::RocketChat | PlatformKind::Console => {
            a.eq_ignore_ascii_case(b)
        }
        PlatformKind::Slack => a == b,
    }
}

impl Directory {
    pub fn new(people: Vec<Person>) -> Self {
        Directory { people }
    }

    pub fn people(&self) -> &[Person] {
        &self.people
    }

    pub fn by_identity(&self, kind: PlatformKind, id: &str) -> Option<&Person> {
        self.people
            .iter()
            .find(|p| p.identity(kind).is_some_and(|i| same_id(kind, i, id)))
    }

    /// By name, or by any platform identity.
    pub fn find(&self, who: &str) -> Option<&Person> {
        let who = who.trim_start_matches('@');
        self.people
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(who))
            .or_else(|| {
                [
                    PlatformKind::Slack,
                    PlatformKind::RocketChat,
                    PlatformKind::Irc,
                ]
                .into_iter()
                .find_map(|k| self.by_identity(k, who))
            })
    }

    /// The actor behind a platform identity.
    pub fn actor(&self, platform: &str, kind: PlatformKind, id: &str, display: &str) -> Actor {
        match self.by_identity(kind, id) {
            Some(p) => Actor {
                key: p.name.clone(),
                display: p.name.clone(),
                responder: p.responder,
                known: true,
            },
            None => Actor {
                key: format!("{platform}:{id}"),
                display: if display.is_empty() {
                    id.to_string()
                } else {
                    display.to_string()
                },
                responder: false,
                known: false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> Directory {
        Directory::new(vec![Person {
            name: "alice".into(),
            slack: Some("U01ALICE".into()),
            rocketchat: Some("alice.r".into()),
            irc: Some("Alice".into()),
            console: None,
            email: None,
            responder: true,
        }])
    }

    #[test]
    fn one_person_across_platforms() {
        let d = dir();
        let a = d.actor("slack", PlatformKind::Slack, "U01ALICE", "Alice A.");
        let b = d.actor("libera", PlatformKind::Irc, "alice", "alice");
        assert_eq!(a.key, "alice");
        assert_eq!(a, b);
        assert!(a.responder && a.known);
        assert!(d.by_identity(PlatformKind::Slack, "u01alice").is_none());
        assert_eq!(d.find("@alice.r").map(|p| p.name.as_str()), Some("alice"));
    }

    #[test]
    fn unknown_people_still_work() {
        let a = dir().actor("slack", PlatformKind::Slack, "U999", "Bob");
        assert_eq!(a.key, "slack:U999");
        assert_eq!(a.display, "Bob");
        assert!(!a.responder && !a.known);
    }
}
