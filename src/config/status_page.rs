//! `[status_page]` and `[[component]]`: what the public status page shows.

use serde::Deserialize;

use super::Problem;
use crate::domain::incident::Severity;
use crate::domain::status_page::{Component, PublishPolicy};

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct StatusPageConfig {
    /// The page's name (`page.name`).
    pub name: String,
    /// Where the page is reachable from outside (`page.url`); may be empty.
    pub url: String,
    /// Severities published when an incident opens; `!inc publish`/`unpublish` override.
    pub publish: Vec<String>,
    /// Show who wrote each public update (off: names never reach the page).
    pub show_names: bool,
    /// Rewrite a static export of the page here after every change.
    pub export_dir: Option<String>,
}

impl Default for StatusPageConfig {
    fn default() -> Self {
        StatusPageConfig {
            name: "Flare".into(),
            url: String::new(),
            publish: vec!["SEV1".into(), "SEV2".into()],
            show_names: false,
            export_dir: None,
        }
    }
}

/// One component of the page; incidents whose `apps` name it (or one of its `apps`)
/// affect it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ComponentConfig {
    pub name: String,
    pub description: String,
    pub apps: Vec<String>,
}

/// The publish policy, checked.
pub(super) fn publish_policy(c: &StatusPageConfig, problems: &mut Vec<Problem>) -> PublishPolicy {
    let mut policy = PublishPolicy {
        severities: Default::default(),
    };
    for (i, s) in c.publish.iter().enumerate() {
        match s.parse::<Severity>() {
            Ok(sev) => {
                policy.severities.insert(sev);
            }
            Err(()) => problems.push(Problem {
                key: format!("status_page.publish[{i}]"),
                reason: format!("`{s}` is not a severity (SEV1, SEV2, SEV3 or SEV4)"),
            }),
        }
    }
    policy
}

/// The components, checked: each named, names and ids unique.
pub(super) fn components(cs: &[ComponentConfig], problems: &mut Vec<Problem>) -> Vec<Component> {
    let mut out: Vec<Component> = Vec::new();
    for (i, c) in cs.iter().enumerate() {
        if c.name.trim().is_empty() {
            problems.push(Problem {
                key: format!("component[{i}].name"),
                reason: "must not be empty".into(),
            });
            continue;
        }
        let comp = Component::new(i, &c.name, &c.description, &c.apps);
        if out.iter().any(|o| o.id == comp.id) {
            problems.push(Problem {
                key: format!("component[{i}].name"),
                reason: format!("`{}` names the same component as an earlier one", c.name),
            });
            continue;
        }
        out.push(comp);
    }
    out
}
