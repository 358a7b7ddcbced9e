//! The `[[people]]` section as the domain's directory.

use super::PersonConfig;
use crate::domain::people::{Directory, Person};

impl Directory {
    /// Everyone listed; a person is a responder unless `responder = false`.
    pub fn from_config(people: &[PersonConfig]) -> Self {
        Directory::new(
            people
                .iter()
                .map(|p| Person {
                    name: p.name.clone(),
                    slack: p.slack.clone(),
                    rocketchat: p.rocketchat.clone(),
                    irc: p.irc.clone(),
                    console: p.console.clone(),
                    email: p.email.clone(),
                    responder: p.responder.unwrap_or(true),
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_are_responders_unless_told_otherwise() {
        let people = [
            PersonConfig {
                name: "alice".into(),
                slack: Some("U01ALICE".into()),
                ..Default::default()
            },
            PersonConfig {
                name: "bob".into(),
                responder: Some(false),
                ..Default::default()
            },
        ];
        let d = Directory::from_config(&people);
        assert!(d.find("alice").is_some_and(|p| p.responder));
        assert!(d.find("U01ALICE").is_some_and(|p| p.name == "alice"));
        assert!(d.find("bob").is_some_and(|p| !p.responder));
    }
}
