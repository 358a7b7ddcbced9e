//! The `[[rotation]]`, `[[escalation]]`, `[nudges]` and `[[announcement]]` sections, checked
//! and turned into the domain's paging. Every problem names its key.

use chrono::{Duration, NaiveDate, NaiveTime};
use chrono_tz::Tz;

use super::{Config, Problem};
use crate::domain::cron_text::CronSchedule;
use crate::domain::escalation::{Escalation, Path, Step, Target, Via};
use crate::domain::incident::Severity;
use crate::domain::oncall::{Length, Rotation, parse_weekday};
use crate::domain::paging::{Announcement, Paging, parse_place};
use crate::domain::people::Directory;

fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .ok()
        .and_then(|d| Duration::from_std(d).ok())
        .ok_or_else(|| format!("`{s}` is not a duration like 5m, 90s or 1h"))
}

fn zone(s: &str) -> Result<Tz, String> {
    s.trim()
        .parse::<Tz>()
        .map_err(|_| format!("`{s}` is not an IANA time zone (like America/New_York)"))
}

/// The names a `platform/channel` may start with: every configured adapter, and the console.
fn platform_names(c: &Config) -> Vec<&str> {
    let mut names = vec!["console"];
    names.extend(c.irc.iter().map(|a| a.name.as_str()));
    names.extend(c.slack.iter().map(|a| a.name.as_str()));
    names.extend(c.rocketchat.iter().map(|a| a.name.as_str()));
    names
}

/// What is valid but will not work as written: escalation steps by a transport Flare does
/// not have yet (e-mail, webhook), which are only recorded in the timeline as pending.
/// `flare check-config` lists them as warnings, each with its key.
pub fn warnings(c: &Config) -> Vec<Problem> {
    let mut warnings = Vec::new();
    for (i, e) in c.escalation.iter().enumerate() {
        for (j, s) in e.step.iter().enumerate() {
            let what = match Via::parse(&s.via) {
                Some(Via::Email) => "e-mail",
                Some(Via::Webhook) => "webhooks",
                _ => continue,
            };
            warnings.push(Problem {
                key: format!("escalation[{i}].step[{j}].via"),
                reason: format!(
                    "`{}` steps cannot be sent: Flare has no {what} transport yet, so the step \
                     is only recorded in the timeline (use via = \"chat\" to page someone)",
                    s.via
                ),
            });
        }
    }
    warnings
}

impl Paging {
    pub fn from_config(c: &Config) -> Result<Paging, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut problem = |key: String, reason: String| problems.push(Problem { key, reason });
        let people = Directory::from_config(&c.people);
        let person = |name: &str| people.find(name).map(|p| p.name.clone());
        let default_zone = zone(&c.calendar.zone).unwrap_or(chrono_tz::America::New_York);
        let platforms = platform_names(c);
        let places = |key: &str, list: &[String], problem: &mut dyn FnMut(String, String)| {
            let mut out = Vec::new();
            for (j, s) in list.iter().enumerate() {
                match parse_place(s) {
                    Some(p) if !platforms.contains(&p.0.as_str()) => problem(
                        format!("{key}[{j}]"),
                        format!(
                            "`{}` is not a configured platform (these are: {})",
                            p.0,
                            platforms.join(", ")
                        ),
                    ),
                    Some(p) => out.push(p),
                    None => problem(
                        format!("{key}[{j}]"),
                        format!("`{s}` is not `platform/channel` (e.g. slack/C0123, console/#ops)"),
                    ),
                }
            }
            out
        };

        let mut rotations: Vec<Rotation> = Vec::new();
        for (i, r) in c.rotation.iter().enumerate() {
            let key = format!("rotation[{i}]");
            if r.name.trim().is_empty() {
                problem(format!("{key}.name"), "every rotation needs a name".into());
            } else if rotations
                .iter()
                .any(|o| o.name.eq_ignore_ascii_case(&r.name))
            {
                problem(format!("{key}.name"), format!("`{}` is used twice", r.name));
            }
            if r.participants.is_empty() {
                problem(
                    format!("{key}.participants"),
                    "the rotation has no participants: list people from [[people]]".into(),
                );
            }
            let mut participants = Vec::new();
            for (j, p) in r.participants.iter().enumerate() {
                match person(p) {
                    Some(n) => participants.push(n),
                    None => problem(
                        format!("{key}.participants[{j}]"),
                        format!("`{p}` is not in [[people]]"),
                    ),
                }
            }
            let length = Length::parse(&r.length).unwrap_or_else(|| {
                problem(
                    format!("{key}.length"),
                    format!("`{}` is neither `daily` nor `weekly`", r.length),
                );
                Length::Weekly
            });
            let handoff_day = parse_weekday(&r.handoff_day).unwrap_or_else(|| {
                problem(
                    format!("{key}.handoff_day"),
                    format!("`{}` is not a weekday name (mon .. sun)", r.handoff_day),
                );
                chrono::Weekday::Mon
            });
            let handoff_time = NaiveTime::parse_from_str(r.handoff_time.trim(), "%H:%M")
                .unwrap_or_else(|_| {
                    problem(
                        format!("{key}.handoff_time"),
                        format!("`{}` is not a time like 09:00", r.handoff_time),
                    );
                    NaiveTime::MIN
                });
            let z = match &r.zone {
                Some(s) => zone(s).unwrap_or_else(|e| {
                    problem(format!("{key}.zone"), e);
                    default_zone
                }),
                None => default_zone,
            };
            let anchor = match &r.start {
                Some(s) => NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").unwrap_or_else(|_| {
                    problem(
                        format!("{key}.start"),
                        format!("`{s}` is not a date like 2026-01-05"),
                    );
                    NaiveDate::MIN
                }),
                None => NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or(NaiveDate::MIN),
            };
            let announce = places(&format!("{key}.announce"), &r.announce, &mut problem);
            rotations.push(Rotation {
                name: r.name.trim().to_string(),
                participants,
                length,
                handoff_day,
                handoff_time,
                zone: z,
                anchor,
                announce,
            });
        }

        let mut paths = Vec::new();
        for (i, e) in c.escalation.iter().enumerate() {
            let key = format!("escalation[{i}]");
            let mut severities = Vec::new();
            for (j, s) in e.severities.iter().enumerate() {
                match s.parse::<Severity>() {
                    Ok(v) => severities.push(v),
                    Err(()) => problem(
                        format!("{key}.severities[{j}]"),
                        format!("`{s}` is not a severity (SEV1 .. SEV4)"),
                    ),
                }
            }
            if let Some(r) = &e.rotation
                && !rotations.iter().any(|o| o.name.eq_ignore_ascii_case(r))
            {
                problem(
                    format!("{key}.rotation"),
                    format!("`{r}` is not a [[rotation]] name"),
                );
            }
            if e.step.is_empty() {
                problem(
                    format!("{key}.step"),
                    "a path needs at least one [[escalation.step]]".into(),
                );
            }
            let mut steps = Vec::new();
            for (j, s) in e.step.iter().enumerate() {
                let skey = format!("{key}.step[{j}]");
                let after = duration(&s.after).unwrap_or_else(|r| {
                    problem(format!("{skey}.after"), r);
                    Duration::zero()
                });
                let via = Via::parse(&s.via).unwrap_or_else(|| {
                    problem(
                        format!("{skey}.via"),
                        format!("`{}` is not one of chat, email, webhook", s.via),
                    );
                    Via::Chat
                });
                if via == Via::Webhook && s.url.as_deref().unwrap_or("").is_empty() {
                    problem(format!("{skey}.url"), "a webhook step needs a url".into());
                }
                if s.notify.is_empty() && via != Via::Webhook {
                    problem(format!("{skey}.notify"), "the step notifies no one".into());
                }
                let mut notify = Vec::new();
                for (k, n) in s.notify.iter().enumerate() {
                    let t = Target::parse(n);
                    match &t {
                        Target::Person(p) => match person(p) {
                            Some(name) => notify.push(Target::Person(name)),
                            None => problem(
                                format!("{skey}.notify[{k}]"),
                                format!(
                                    "`{p}` is not in [[people]] (nor oncall, secondary, commander)"
                                ),
                            ),
                        },
                        Target::OnCall | Target::Secondary if rotations.is_empty() => problem(
                            format!("{skey}.notify[{k}]"),
                            format!("`{n}` needs a [[rotation]]"),
                        ),
                        _ => notify.push(t),
                    }
                }
                steps.push(Step {
                    after,
                    notify,
                    via,
                    url: s.url.clone(),
                });
            }
            steps.sort_by_key(|s| s.after);
            paths.push(Path {
                severities,
                rotation: e.rotation.clone(),
                steps,
            });
        }

        let mut nudges = [None; 4];
        let n = &c.nudges;
        for (i, (name, v)) in [
            ("sev1", &n.sev1),
            ("sev2", &n.sev2),
            ("sev3", &n.sev3),
            ("sev4", &n.sev4),
        ]
        .into_iter()
        .enumerate()
        {
            if v.trim().is_empty() {
                continue;
            }
            match duration(v) {
                Ok(d) if d > Duration::zero() => nudges[i] = Some(d),
                Ok(_) => problem(format!("nudges.{name}"), "must be longer than 0s".into()),
                Err(r) => problem(format!("nudges.{name}"), r),
            }
        }

        let mut announcements: Vec<Announcement> = Vec::new();
        for (i, a) in c.announcement.iter().enumerate() {
            let key = format!("announcement[{i}]");
            let name = if a.name.trim().is_empty() {
                format!("announcement-{i}")
            } else {
                a.name.trim().to_string()
            };
            if announcements.iter().any(|o| o.name == name) {
                problem(format!("{key}.name"), format!("`{name}` is used twice"));
            }
            let z = match &a.zone {
                Some(s) => zone(s).unwrap_or_else(|e| {
                    problem(format!("{key}.zone"), e);
                    default_zone
                }),
                None => default_zone,
            };
            if a.text.trim().is_empty() {
                problem(format!("{key}.text"), "the announcement has no text".into());
            }
            if a.channels.is_empty() {
                problem(
                    format!("{key}.channels"),
                    "list at least one `platform/channel`".into(),
                );
            }
            let channels = places(&format!("{key}.channels"), &a.channels, &mut problem);
            match CronSchedule::parse(&a.cron, z) {
                Ok(schedule) => announcements.push(Announcement {
                    name,
                    schedule,
                    text: a.text.clone(),
                    channels,
                }),
                Err(r) => problem(format!("{key}.cron"), r),
            }
        }

        if problems.is_empty() {
            Ok(Paging {
                rotations,
                escalation: Escalation { paths },
                nudges,
                announcements,
            })
        } else {
            Err(problems)
        }
    }
}
