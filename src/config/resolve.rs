//! The one place the configuration's values are checked: [`Settings::from_config`] turns the
//! parsed sections into what Flare runs on (calendar, SLA policy, reminders, directory,
//! paging), or lists every problem with its key. `flare check-config` prints those problems.

use std::collections::{BTreeMap, HashSet};

use super::{Config, Problem, parse_duration, redact_url};
use crate::domain::calendar::BusinessCalendar;
use crate::domain::command::RESTRICTABLE;
use crate::domain::paging::Paging;
use crate::domain::people::Directory;
use crate::domain::reminder::Offset;
use crate::domain::sla::SlaPolicy;
use crate::domain::status_page::{Component, PublishPolicy};

/// What the engine runs on, resolved once from the configuration.
pub struct Settings {
    pub calendar: BusinessCalendar,
    pub sla: SlaPolicy,
    pub reminders: Vec<Offset>,
    pub ack_on_first_reply: bool,
    pub responders_only: HashSet<String>,
    pub attribution: String,
    pub directory: Directory,
    /// Rotations, escalation paths, nudges and announcements (see `engine::timers`).
    pub paging: Paging,
    /// Severities published on the status page when opened.
    pub publish: PublishPolicy,
    /// The status page's components.
    pub components: Vec<Component>,
    /// Responder names on the status page.
    pub show_names: bool,
}

impl Settings {
    /// Checks every section and resolves the configuration, or lists every problem, in the
    /// order of the sections.
    pub fn from_config(c: &Config) -> Result<Settings, Vec<Problem>> {
        let mut problems = Vec::new();
        let calendar = BusinessCalendar::from_config(&c.calendar)
            .map_err(|p| problems.extend(p))
            .ok();
        let sla = SlaPolicy::from_config(&c.sla)
            .map_err(|p| problems.extend(p))
            .ok();
        let reminders = sla.map(|policy| reminders(c, policy, &mut problems));
        check_database(c, &mut problems);
        check_commands_and_mirror(c, &mut problems);
        check_delivery(c, &mut problems);
        check_people(c, &mut problems);
        let paging = Paging::from_config(c).map_err(|p| problems.extend(p)).ok();
        check_platforms(c, &mut problems);
        c.http.check(&mut problems);
        let publish = super::status_page::publish_policy(&c.status_page, &mut problems);
        let components = super::status_page::components(&c.component, &mut problems);
        match (calendar, sla, reminders, paging) {
            (Some(calendar), Some(sla), Some(reminders), Some(paging)) if problems.is_empty() => {
                Ok(Settings {
                    calendar,
                    sla,
                    reminders,
                    ack_on_first_reply: c.sla.ack_on_first_reply,
                    responders_only: c.commands.responders_only.iter().cloned().collect(),
                    attribution: c.mirror.attribution.clone(),
                    directory: Directory::from_config(&c.people),
                    paging,
                    publish,
                    components,
                    show_names: c.status_page.show_names,
                })
            }
            _ => Err(problems),
        }
    }
}

/// `sla.reminders`: each an offset that falls inside both ack windows.
fn reminders(c: &Config, policy: SlaPolicy, problems: &mut Vec<Problem>) -> Vec<Offset> {
    let mut offsets = Vec::new();
    for (i, r) in c.sla.reminders.iter().enumerate() {
        let key = format!("sla.reminders[{i}]");
        match Offset::parse(r) {
            Err(reason) => problems.push(Problem { key, reason }),
            Ok(o) => {
                for w in [policy.business, policy.after_hours] {
                    if o.within(w).is_none() {
                        problems.push(Problem {
                            key: key.clone(),
                            reason: format!(
                                "`{r}` falls outside the {} ack window",
                                humantime::format_duration(w.to_std().unwrap_or_default())
                            ),
                        });
                        break;
                    }
                }
                offsets.push(o);
            }
        }
    }
    offsets
}

fn check_database(c: &Config, problems: &mut Vec<Problem>) {
    // A URL file is read now, so that a missing one is reported here rather than at start.
    let (key, url) = match &c.database.url_file {
        None => ("database.url", Some(c.database.url.clone())),
        Some(_) => (
            "database.url_file",
            super::secret("database.url", &None, &c.database.url_file, problems),
        ),
    };
    if let Some(url) = url
        && !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
    {
        problems.push(Problem {
            key: key.into(),
            reason: format!(
                "`{}` is neither a sqlite:// nor a postgres:// URL",
                redact_url(&url)
            ),
        });
    }
    if c.database.max_connections == 0 {
        problems.push(Problem {
            key: "database.max_connections".into(),
            reason: "must be at least 1".into(),
        });
    }
}

fn check_commands_and_mirror(c: &Config, problems: &mut Vec<Problem>) {
    for (i, cmd) in c.commands.responders_only.iter().enumerate() {
        if !RESTRICTABLE.contains(&cmd.as_str()) {
            problems.push(Problem {
                key: format!("commands.responders_only[{i}]"),
                reason: format!(
                    "`{cmd}` is not a command that can be restricted (one of {})",
                    RESTRICTABLE.join(", ")
                ),
            });
        }
    }
    if !c.mirror.attribution.contains("{name}") {
        problems.push(Problem {
            key: "mirror.attribution".into(),
            reason: "must contain {name}".into(),
        });
    }
}

/// The outbox worker's retry settings; `delivery::RetryPolicy` reads them again, checked.
fn check_delivery(c: &Config, problems: &mut Vec<Problem>) {
    let d = &c.delivery;
    parse_duration("delivery.initial_backoff", &d.initial_backoff, problems);
    parse_duration("delivery.max_backoff", &d.max_backoff, problems);
    if d.max_attempts == 0 {
        problems.push(Problem {
            key: "delivery.max_attempts".into(),
            reason: "must be at least 1".into(),
        });
    }
}

fn check_people(c: &Config, problems: &mut Vec<Problem>) {
    let mut names = BTreeMap::new();
    for (i, p) in c.people.iter().enumerate() {
        if p.name.trim().is_empty() {
            problems.push(Problem {
                key: format!("people[{i}].name"),
                reason: "every person needs a name".into(),
            });
        } else if names.insert(p.name.to_lowercase(), i).is_some() {
            problems.push(Problem {
                key: format!("people[{i}].name"),
                reason: format!("`{}` is listed twice", p.name),
            });
        }
    }
}

/// Every adapter's section, and that platform names are unique (and not `console`).
fn check_platforms(c: &Config, problems: &mut Vec<Problem>) {
    let mut platforms = BTreeMap::new();
    let mut seen = |name: &str, key: String, problems: &mut Vec<Problem>| {
        if name.is_empty() {
            problems.push(Problem {
                key,
                reason: "every platform needs a name".into(),
            });
        } else if name == "console" || platforms.insert(name.to_string(), ()).is_some() {
            problems.push(Problem {
                key,
                reason: format!("platform name `{name}` is used twice (or is `console`)"),
            });
        }
    };
    for (i, a) in c.irc.iter().enumerate() {
        seen(&a.name, format!("irc[{i}].name"), problems);
        a.validate(&format!("irc[{i}]"), problems);
    }
    for (i, a) in c.slack.iter().enumerate() {
        seen(&a.name, format!("slack[{i}].name"), problems);
        a.validate(&format!("slack[{i}]"), problems);
    }
    for (i, a) in c.rocketchat.iter().enumerate() {
        seen(&a.name, format!("rocketchat[{i}].name"), problems);
        a.validate(&format!("rocketchat[{i}]"), problems);
    }
}
