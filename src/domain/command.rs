//! The chat command grammar, the same on every platform: `!incident <command> ...` or
//! `!inc <command> ...`. One table drives parsing, usage replies and help.

use std::sync::LazyLock;

use chrono::{Duration, NaiveDate};
use regex::{Captures, Regex};

use super::incident::{IncidentId, Severity, Status};

/// Commands that `commands.responders_only` may restrict.
pub const RESTRICTABLE: &[&str] = &[
    "apps",
    "impact",
    "open",
    "ack",
    "update",
    "status",
    "severity",
    "title",
    "commander",
    "resolve",
    "reopen",
    "publish",
    "unpublish",
];

/// Longest command message accepted, in characters.
pub const MAX_COMMAND_CHARS: usize = 4000;
/// Longest incident title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Open {
        title: String,
        severity: Severity,
        /// The lines after the command line: the incident's first update.
        description: Option<String>,
    },
    Ack {
        incident: Option<IncidentId>,
    },
    Update {
        incident: Option<IncidentId>,
        text: String,
    },
    Status {
        incident: Option<IncidentId>,
        status: Status,
    },
    Severity {
        incident: Option<IncidentId>,
        severity: Severity,
    },
    Title {
        incident: Option<IncidentId>,
        title: String,
    },
    Commander {
        incident: Option<IncidentId>,
        person: String,
    },
    Resolve {
        incident: Option<IncidentId>,
        summary: Option<String>,
    },
    Reopen {
        incident: IncidentId,
    },
    /// The applications the incident affects.
    Apps {
        incident: Option<IncidentId>,
        apps: Vec<String>,
    },
    /// The business impact, in words.
    Impact {
        incident: Option<IncidentId>,
        text: String,
    },
    /// Open incidents; or, with `resolved`, those resolved since a time.
    List {
        resolved: Option<Since>,
    },
    Show {
        incident: Option<IncidentId>,
    },
    /// The whole timeline of one incident.
    Timeline {
        incident: Option<IncidentId>,
    },
    Sla {
        at: Option<String>,
    },
    Help {
        topic: Option<String>,
    },
    /// Who is on call; or add an override (times as the user wrote them).
    Oncall {
        set: Option<OncallOverride>,
    },
    /// Put the incident on the public status page, or take it off.
    Publish {
        incident: Option<IncidentId>,
        published: bool,
    },
}

/// Where `!inc list resolved [since]` starts: a date (local midnight, read by the engine in
/// its zone) or a span back from now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    Date(NaiveDate),
    Ago(Duration),
}

/// What `list resolved` covers when no `since` is given.
pub const DEFAULT_RESOLVED_SINCE: Since = Since::Ago(Duration::days(7));

impl Since {
    /// `2026-12-01`, or a whole number of weeks, days, hours or minutes: `2w`, `7d`, `24h`,
    /// `90m`.
    pub fn parse(s: &str) -> Option<Since> {
        if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            return Some(Since::Date(d));
        }
        let unit = s.chars().last()?;
        let n: i64 = s[..s.len() - unit.len_utf8()].parse().ok()?;
        if !(1..=100_000).contains(&n) {
            return None;
        }
        let span = match unit.to_ascii_lowercase() {
            'w' => Duration::weeks(n),
            'd' => Duration::days(n),
            'h' => Duration::hours(n),
            'm' => Duration::minutes(n),
            _ => return None,
        };
        Some(Since::Ago(span))
    }
}

/// `override <person> <from> <to>`, the times unparsed (the engine reads them in its zone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OncallOverride {
    pub person: String,
    pub from: String,
    pub to: String,
}

impl Command {
    /// The grammar name of the command (`open`, `ack`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Command::Open { .. } => "open",
            Command::Ack { .. } => "ack",
            Command::Update { .. } => "update",
            Command::Status { .. } => "status",
            Command::Severity { .. } => "severity",
            Command::Title { .. } => "title",
            Command::Commander { .. } => "commander",
            Command::Resolve { .. } => "resolve",
            Command::Reopen { .. } => "reopen",
            Command::Apps { .. } => "apps",
            Command::Impact { .. } => "impact",
            Command::List { .. } => "list",
            Command::Show { .. } => "show",
            Command::Timeline { .. } => "timeline",
            Command::Sla { .. } => "sla",
            Command::Help { .. } => "help",
            Command::Oncall { .. } => "oncall",
            Command::Publish {
                published: true, ..
            } => "publish",
            Command::Publish {
                published: false, ..
            } => "unpublish",
        }
    }
}

/// What a chat message is, as far as commands go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Not addressed to Flare (no `!incident`/`!inc` prefix).
    NotACommand,
    Command(Command),
    /// Addressed to Flare but malformed: the reply names the right form. Nothing changes.
    Usage(String),
}

/// What a command does with the lines after the one it is written on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoreLines {
    /// They continue its text (`update`, `impact`, `resolve`).
    Text,
    /// They become the new incident's first update (`open`).
    Description,
    /// They are not used, and the reply says so.
    Unused,
}

/// How a command takes an incident reference as its first argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reference {
    None,
    Optional,
    Required,
}

/// One row of the grammar.
pub struct Spec {
    pub name: &'static str,
    pub args: &'static str,
    pub summary: &'static str,
    pub example: &'static str,
    pub more_lines: MoreLines,
    reference: Reference,
    /// Matches the rest of the command once an incident reference is taken off the front.
    pattern: &'static str,
}

impl Spec {
    pub fn usage(&self) -> String {
        if self.args.is_empty() {
            format!("!incident {}", self.name)
        } else {
            format!("!incident {} {}", self.name, self.args)
        }
    }

    /// What the command needs after its incident reference (`<text>`), for the usage reply
    /// when only the reference was written.
    fn after_reference(&self) -> &'static str {
        self.args
            .strip_prefix("[INC-n]")
            .or_else(|| self.args.strip_prefix("INC-n"))
            .unwrap_or(self.args)
            .trim()
    }
}

const SEVERITIES: &str = "SEV1 (critical), SEV2 (major), SEV3 (minor, the default), SEV4 (low)";

/// The grammar. Patterns match the text after the command word (and after the incident
/// reference, for commands that take one).
pub static GRAMMAR: &[Spec] = &[
    Spec {
        name: "open",
        args: "<title> [sev1-4]",
        summary: "open an incident (default SEV3) with a thread in every incident channel; lines after the first become its first update",
        example: "!incident open Checkout API returns 500 sev1",
        more_lines: MoreLines::Description,
        reference: Reference::None,
        pattern: r"^(?P<title>\S.*)$",
    },
    Spec {
        name: "ack",
        args: "[INC-n]",
        summary: "acknowledge an incident; the time is your message's own timestamp",
        example: "!incident ack INC-7",
        more_lines: MoreLines::Unused,
        reference: Reference::Optional,
        pattern: r"^$",
    },
    Spec {
        name: "update",
        args: "[INC-n] <text>",
        summary: "post a status update to every incident and announcement channel",
        example: "!incident update INC-7 failover to the replica is done",
        more_lines: MoreLines::Text,
        reference: Reference::Optional,
        pattern: r"^(?s)(?P<text>\S.*)$",
    },
    Spec {
        name: "status",
        args: "[INC-n] <investigating|identified|monitoring|resolved>",
        summary: "move the incident forward",
        example: "!incident status INC-7 monitoring",
        more_lines: MoreLines::Unused,
        reference: Reference::Optional,
        pattern: r"^(?P<status>\S+)$",
    },
    Spec {
        name: "severity",
        args: "[INC-n] <sev1|sev2|sev3|sev4>",
        summary: "change the severity (its escalation path and update nudges follow)",
        example: "!incident severity INC-7 sev1",
        more_lines: MoreLines::Unused,
        reference: Reference::Optional,
        pattern: r"^(?P<sev>\S+)$",
    },
    Spec {
        name: "title",
        args: "[INC-n] <title>",
        summary: "rename the incident",
        example: "!incident title INC-7 Checkout API times out for EU customers",
        more_lines: MoreLines::Unused,
        reference: Reference::Optional,
        pattern: r"^(?P<title>\S.*)$",
    },
    Spec {
        name: "commander",
        args: "[INC-n] <person>",
        summary: "name the incident commander",
        example: "!incident commander INC-7 alice",
        more_lines: MoreLines::Unused,
        reference: Reference::Optional,
        pattern: r"^@?(?P<person>[^\s@<>]{1,64})$",
    },
    Spec {
        name: "resolve",
        args: "[INC-n] [summary]",
        summary: "resolve the incident, with an optional summary",
        example: "!incident resolve INC-7 bad deploy rolled back",
        more_lines: MoreLines::Text,
        reference: Reference::Optional,
        pattern: r"^(?s)(?P<text>.*)$",
    },
    Spec {
        name: "reopen",
        args: "INC-n",
        summary: "reopen a resolved incident",
        example: "!incident reopen INC-7",
        more_lines: MoreLines::Unused,
        reference: Reference::Required,
        pattern: r"^$",
    },
    Spec {
        name: "apps",
        args: "[INC-n] <application>[, <application>...]",
        summary: "record the applications the incident affects",
        example: "!incident apps INC-7 checkout, payments-api",
        more_lines: MoreLines::Unused,
        reference: Reference::Optional,
        pattern: r"^(?P<text>[^\s,].*)$",
    },
    Spec {
        name: "impact",
        args: "[INC-n] <business impact>",
        summary: "record the business impact",
        example: "!incident impact INC-7 customers cannot pay by card",
        more_lines: MoreLines::Text,
        reference: Reference::Optional,
        pattern: r"^(?s)(?P<text>\S.*)$",
    },
    Spec {
        name: "list",
        args: "[resolved [<since>]]",
        summary: "list open incidents; or those resolved since a date (2026-12-01) or for a span (7d, 24h; default 7d)",
        example: "!incident list resolved 7d",
        more_lines: MoreLines::Unused,
        reference: Reference::None,
        pattern: r"^(?:(?P<what>(?i:resolved))(?:\s+(?P<since>\S+))?)?$",
    },
    Spec {
        name: "show",
        args: "[INC-n]",
        summary: "show an incident: status, acknowledgement and SLA, deliveries, latest timeline",
        example: "!incident show INC-7",
        more_lines: MoreLines::Unused,
        reference: Reference::Optional,
        pattern: r"^$",
    },
    Spec {
        name: "timeline",
        args: "[INC-n]",
        summary: "an incident's whole timeline",
        example: "!incident timeline INC-7",
        more_lines: MoreLines::Unused,
        reference: Reference::Optional,
        pattern: r"^$",
    },
    Spec {
        name: "sla",
        args: "[<time>]",
        summary: "the ack window for an incident starting now or at an RFC 3339 time",
        example: "!incident sla 2026-11-26T10:00:00-05:00",
        more_lines: MoreLines::Unused,
        reference: Reference::None,
        pattern: r"^(?P<at>\S+)?$",
    },
    Spec {
        name: "oncall",
        args: "[override <person> <from> <to>]",
        summary: "who is on call now and next; or put someone on call for a while (RFC 3339 or local YYYY-MM-DD HH:MM)",
        example: "!incident oncall override bob 2026-11-24 18:00 2026-11-25 09:00",
        more_lines: MoreLines::Unused,
        reference: Reference::None,
        pattern: r"^(?:(?i:override)\s+@?(?P<person>[^\s@<>]{1,64})\s+(?P<from>\S+(?:\s+[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?)?)\s+(?P<to>\S+(?:\s+[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?)?))?$",
    },
    Spec {
        name: "publish",
        args: "[INC-n]",
        summary: "show the incident and its status updates on the public status page",
        example: "!incident publish INC-7",
        more_lines: MoreLines::Unused,
        reference: Reference::Optional,
        pattern: r"^$",
    },
    Spec {
        name: "unpublish",
        args: "[INC-n]",
        summary: "take the incident off the public status page",
        example: "!incident unpublish INC-7",
        more_lines: MoreLines::Unused,
        reference: Reference::Optional,
        pattern: r"^$",
    },
    Spec {
        name: "help",
        args: "[command]",
        summary: "this help, or one command's",
        example: "!incident help status",
        more_lines: MoreLines::Unused,
        reference: Reference::None,
        pattern: r"^(?P<topic>\S+)?$",
    },
];

static PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^!(?i:incident|inc)(?:\s+(?P<cmd>\S+)(?:\s+(?P<rest>.*))?)?\s*$")
        .unwrap_or_else(|e| panic!("prefix pattern: {e}"))
});

static PATTERNS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    GRAMMAR
        .iter()
        .map(|s| Regex::new(s.pattern).unwrap_or_else(|e| panic!("pattern for {}: {e}", s.name)))
        .collect()
});

/// A well-formed incident reference: `INC-` and 1 to 15 ASCII digits, in any case.
static REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?i:INC)-[0-9]{1,15}$").unwrap_or_else(|e| panic!("reference pattern: {e}"))
});

/// A first word that is meant as an incident reference but is not one: `inc` or `incident`
/// followed by anything but a letter (`INC`, `INC-`, `INC-x`, `inc1`, `INC_1`, `INC:1`,
/// `INC-1:`, `incident-3`, `INC-` with other scripts' digits or too many digits), or `#`
/// followed by a digit (`#1`). Words that only begin with those letters (`increase`,
/// `incidents`) are text.
static LOOKS_LIKE_REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:(?i:inc(?:ident)?)(?:[^a-zA-Z]|$)|#[0-9])")
        .unwrap_or_else(|e| panic!("reference look-alike pattern: {e}"))
});

/// A word meant as a severity that is none of SEV1-SEV4: `sev`, `sev0`, `sev5`, `sev-1`,
/// `severity2`, `p1`, `p9`.
static LOOKS_LIKE_SEVERITY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?i:sev(?:erity)?[-_:]?[0-9]*|p[0-9]+)$")
        .unwrap_or_else(|e| panic!("severity look-alike pattern: {e}"))
});

pub fn spec(name: &str) -> Option<&'static Spec> {
    GRAMMAR.iter().find(|s| s.name.eq_ignore_ascii_case(name))
}

static ONCALL_ALIAS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?s)!(?i:oncall)(?P<rest>\s.*)?$")
        .unwrap_or_else(|e| panic!("oncall alias pattern: {e}"))
});

/// `!oncall ...` is short for `!incident oncall ...`.
fn expand_alias(text: &str) -> std::borrow::Cow<'_, str> {
    match ONCALL_ALIAS.captures(text.trim()) {
        Some(c) => format!(
            "!incident oncall{}",
            c.name("rest").map(|m| m.as_str()).unwrap_or("")
        )
        .into(),
        None => text.into(),
    }
}

/// The command line (the first line) and the lines after it, blank ones at the ends left out.
fn split_lines(text: &str) -> (&str, &str) {
    match text.split_once('\n') {
        Some((first, more)) => (first.trim_end_matches('\r'), more.trim()),
        None => (text, ""),
    }
}

/// True when the text is addressed to Flare (starts with `!incident`, `!inc` or `!oncall`).
pub fn is_command(text: &str) -> bool {
    let expanded = expand_alias(text);
    PREFIX.is_match(split_lines(expanded.trim()).0)
}

/// How many non-blank lines follow the command line: a command whose spec says
/// `MoreLines::Unused` does not use them, and its reply says so.
pub fn more_lines(text: &str) -> usize {
    let expanded = expand_alias(text);
    split_lines(expanded.trim())
        .1
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
}

/// Parses one chat message. Only its first line is the command; what happens to the lines
/// after it is the command's `more_lines`.
pub fn parse(text: &str) -> Parsed {
    let expanded = expand_alias(text);
    let text = expanded.as_ref();
    let trimmed = text.trim();
    let (first, more) = split_lines(trimmed);
    let Some(caps) = PREFIX.captures(first) else {
        return Parsed::NotACommand;
    };
    if text.chars().count() > MAX_COMMAND_CHARS {
        return Parsed::Usage(format!(
            "That message is {} characters long; commands are limited to {MAX_COMMAND_CHARS}. Nothing was changed.",
            text.chars().count()
        ));
    }
    let Some(word) = caps.name("cmd").map(|m| m.as_str()) else {
        return Parsed::Usage(format!("Which command? {}", short_help()));
    };
    let rest = caps.name("rest").map(|m| m.as_str().trim()).unwrap_or("");
    let Some(index) = GRAMMAR
        .iter()
        .position(|s| s.name.eq_ignore_ascii_case(word))
    else {
        return Parsed::Usage(format!("Unknown command `{word}`. {}", short_help()));
    };
    let spec = &GRAMMAR[index];
    let (incident, rest) = match reference(spec, rest) {
        Ok(found) => found,
        Err(why) => return usage(spec, &why),
    };
    let joined;
    let (rest, description) = match spec.more_lines {
        MoreLines::Text if !more.is_empty() => {
            joined = if rest.is_empty() {
                more.to_string()
            } else {
                format!("{rest}\n{more}")
            };
            (joined.as_str(), None)
        }
        MoreLines::Description if !more.is_empty() => (rest, Some(more.to_string())),
        _ => (rest, None),
    };
    let Some(c) = PATTERNS[index].captures(rest) else {
        if let Some(id) = incident
            && rest.is_empty()
        {
            return usage(
                spec,
                &format!(
                    "{id} is named but {} is missing; nothing was changed",
                    spec.after_reference()
                ),
            );
        }
        return usage(spec, "");
    };
    build(spec, incident, description, &c)
}

/// Takes the incident reference off the front of `rest`, for commands that take one.
/// A malformed reference is refused rather than read as text: inside INC-3's thread,
/// `!inc resolve INC 1` must not resolve INC-3.
fn reference<'a>(spec: &Spec, rest: &'a str) -> Result<(Option<IncidentId>, &'a str), String> {
    if spec.reference == Reference::None {
        return Ok((None, rest));
    }
    let (word, after) = match rest.split_once(char::is_whitespace) {
        Some((w, a)) => (w, a.trim_start()),
        None => (rest, ""),
    };
    if REFERENCE.is_match(word)
        && let Ok(id) = word.parse::<IncidentId>()
    {
        return Ok((Some(id), after));
    }
    if !word.is_empty() && LOOKS_LIKE_REFERENCE.is_match(word) {
        // `INC 1`, `# 1`: show the number that followed too.
        let shown = match after.split_whitespace().next() {
            Some(n)
                if n.starts_with(|c: char| c.is_ascii_digit())
                    && !word.contains(|c: char| c.is_ascii_digit()) =>
            {
                format!("{word} {n}")
            }
            _ => word.to_string(),
        };
        return Err(format!(
            "`{shown}` is not an incident reference: write INC- and the number, like INC-7; nothing was changed"
        ));
    }
    if spec.reference == Reference::Required {
        return Err(String::new());
    }
    Ok((None, rest))
}

fn usage(spec: &Spec, why: &str) -> Parsed {
    let why = if why.is_empty() {
        String::new()
    } else {
        format!("{why}. ")
    };
    Parsed::Usage(format!(
        "{why}Usage: {} ({}). Example: {}",
        spec.usage(),
        spec.summary,
        spec.example
    ))
}

/// The same rules for `open` and `title`.
fn check_title(spec: &Spec, title: &str) -> Result<(), Parsed> {
    if super::text::is_blank(title) {
        return Err(usage(
            spec,
            "The title is empty once invisible characters are removed",
        ));
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(usage(
            spec,
            &format!("The title is limited to {MAX_TITLE_CHARS} characters"),
        ));
    }
    Ok(())
}

fn not_a_severity(spec: &Spec, word: &str) -> Parsed {
    usage(
        spec,
        &format!("`{word}` is not a severity; the severities are {SEVERITIES}"),
    )
}

/// `open`'s title and severity: the severity is the last word of the line (or the first,
/// when the last is not one); a word meant as a severity that is none is refused.
fn title_and_severity(spec: &Spec, line: &str) -> Result<(String, Severity), Parsed> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let (Some(first), Some(last)) = (words.first(), words.last()) else {
        return Err(usage(spec, ""));
    };
    let (title, severity) = if let Ok(sev) = last.parse::<Severity>() {
        let cut = line.len() - last.len();
        (line[..cut].trim(), sev)
    } else if LOOKS_LIKE_SEVERITY.is_match(last) {
        return Err(not_a_severity(spec, last));
    } else if words.len() > 1
        && let Ok(sev) = first.parse::<Severity>()
    {
        (line[first.len()..].trim(), sev)
    } else if words.len() > 1 && LOOKS_LIKE_SEVERITY.is_match(first) {
        return Err(not_a_severity(spec, first));
    } else {
        (line, Severity::default())
    };
    check_title(spec, title)?;
    Ok((title.to_string(), severity))
}

fn build(
    spec: &Spec,
    incident: Option<IncidentId>,
    description: Option<String>,
    c: &Captures<'_>,
) -> Parsed {
    let text = |name: &str| c.name(name).map(|m| m.as_str().trim().to_string());
    let cmd = match spec.name {
        "open" => match title_and_severity(spec, &text("title").unwrap_or_default()) {
            Ok((title, severity)) => Command::Open {
                title,
                severity,
                description,
            },
            Err(u) => return u,
        },
        "ack" => Command::Ack { incident },
        "update" => Command::Update {
            incident,
            text: text("text").unwrap_or_default(),
        },
        "status" => {
            let word = text("status").unwrap_or_default();
            match word.parse::<Status>() {
                Ok(status) => Command::Status { incident, status },
                Err(()) => return usage(spec, &format!("`{word}` is not a status")),
            }
        }
        "severity" => {
            let word = text("sev").unwrap_or_default();
            match word.parse::<Severity>() {
                Ok(severity) => Command::Severity { incident, severity },
                Err(()) => return not_a_severity(spec, &word),
            }
        }
        "title" => {
            let title = text("title").unwrap_or_default();
            if let Err(u) = check_title(spec, &title) {
                return u;
            }
            Command::Title { incident, title }
        }
        "commander" => Command::Commander {
            incident,
            person: text("person").unwrap_or_default(),
        },
        "resolve" => Command::Resolve {
            incident,
            summary: text("text").filter(|s| !s.is_empty()),
        },
        "reopen" => match incident {
            Some(incident) => Command::Reopen { incident },
            None => return usage(spec, ""),
        },
        "apps" => Command::Apps {
            incident,
            apps: text("text")
                .unwrap_or_default()
                .split(',')
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty())
                .collect(),
        },
        "impact" => Command::Impact {
            incident,
            text: text("text").unwrap_or_default(),
        },
        "list" => match (text("what"), text("since")) {
            (None, _) => Command::List { resolved: None },
            (Some(_), None) => Command::List {
                resolved: Some(DEFAULT_RESOLVED_SINCE),
            },
            (Some(_), Some(s)) => match Since::parse(&s) {
                Some(since) => Command::List {
                    resolved: Some(since),
                },
                None => {
                    return usage(
                        spec,
                        &format!(
                            "`{s}` is neither a date (2026-12-01) nor a span (2w, 7d, 24h, 90m)"
                        ),
                    );
                }
            },
        },
        "show" => Command::Show { incident },
        "timeline" => Command::Timeline { incident },
        "sla" => Command::Sla { at: text("at") },
        "oncall" => Command::Oncall {
            set: text("person").map(|person| OncallOverride {
                person,
                from: text("from").unwrap_or_default(),
                to: text("to").unwrap_or_default(),
            }),
        },
        "publish" => Command::Publish {
            incident,
            published: true,
        },
        "unpublish" => Command::Publish {
            incident,
            published: false,
        },
        "help" => Command::Help {
            topic: text("topic").map(|t| t.to_lowercase()),
        },
        _ => return usage(spec, ""),
    };
    Parsed::Command(cmd)
}

fn short_help() -> String {
    format!(
        "Commands: {}. Try `!incident help`.",
        GRAMMAR
            .iter()
            .map(|s| s.name)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Help text generated from the grammar table.
pub fn help(topic: Option<&str>) -> String {
    if let Some(t) = topic {
        return match spec(t) {
            Some(s) => format!("{}\n  {}\n  Example: {}", s.usage(), s.summary, s.example),
            None => format!("No command `{t}`. {}", short_help()),
        };
    }
    let mut out = String::from(
        "Flare commands (prefix `!incident` or `!inc`; in an incident's thread INC-n may be left out):",
    );
    for s in GRAMMAR {
        out.push_str(&format!("\n  {} - {}", s.usage(), s.summary));
    }
    out.push_str(
        "\nINC-n is `INC-` and the number (any case) and always means that incident, in any thread; a malformed one (`INC 1`, `#1`, `inc1`) is refused, never read as text.",
    );
    out.push_str(
        "\nOnly the first line is the command: the lines after it continue the text of update, impact and resolve, become an opened incident's first update, and are not used by other commands.",
    );
    out.push_str(
        "\nAn acknowledgement is a posted message (`ack`, or a reply in the thread), never a reaction.",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(text: &str) -> Command {
        match parse(text) {
            Parsed::Command(c) => c,
            other => panic!("{text:?} -> {other:?}"),
        }
    }

    fn usage_of(text: &str) -> String {
        match parse(text) {
            Parsed::Usage(u) => u,
            other => panic!("{text:?} -> {other:?}"),
        }
    }

    #[test]
    fn not_commands() {
        for t in [
            "hello",
            "incident open x",
            "!incidents",
            "!incx open",
            " ! inc open",
            "",
        ] {
            assert_eq!(parse(t), Parsed::NotACommand, "{t:?}");
        }
    }

    #[test]
    fn open_with_and_without_severity() {
        assert_eq!(
            cmd("!incident open Checkout API down sev1"),
            Command::Open {
                title: "Checkout API down".into(),
                severity: Severity::Sev1,
                description: None,
            }
        );
        assert_eq!(
            cmd("!inc open DB slow"),
            Command::Open {
                title: "DB slow".into(),
                severity: Severity::Sev3,
                description: None,
            }
        );
        assert_eq!(
            cmd("!INC OPEN sev2 is in the title SEV4"),
            Command::Open {
                title: "sev2 is in the title".into(),
                severity: Severity::Sev4,
                description: None,
            }
        );
        assert!(usage_of("!inc open").contains("Usage: !incident open <title> [sev1-4]"));
        for blank in [
            "!inc open \u{200B}\u{200B}",
            "!inc open \u{202E}\u{2066} sev1",
            "!inc open \u{FEFF}",
        ] {
            assert!(
                usage_of(blank).contains("empty once invisible characters are removed"),
                "{blank:?}"
            );
        }
        let long = format!("!inc open {}", "x".repeat(201));
        assert!(usage_of(&long).contains("200 characters"));
    }

    #[test]
    fn incident_numbers_are_ascii_digits() {
        // Other scripts' digits (Arabic-Indic here) are no incident number: a usage reply.
        assert!(usage_of("!inc show INC-\u{0661}\u{0662}").contains("Usage"));
        assert_eq!(
            cmd("!inc show INC-12"),
            Command::Show {
                incident: Some(IncidentId(12))
            }
        );
    }

    #[test]
    fn incident_references_are_optional() {
        assert_eq!(cmd("!inc ack"), Command::Ack { incident: None });
        assert_eq!(
            cmd("!inc ack inc-12"),
            Command::Ack {
                incident: Some(IncidentId(12))
            }
        );
        assert_eq!(
            cmd("!inc update INC-3 rolled back"),
            Command::Update {
                incident: Some(IncidentId(3)),
                text: "rolled back".into()
            }
        );
        assert_eq!(
            cmd("!inc update rolled back\nsecond line"),
            Command::Update {
                incident: None,
                text: "rolled back\nsecond line".into()
            }
        );
        assert_eq!(
            cmd("!inc status monitoring"),
            Command::Status {
                incident: None,
                status: Status::Monitoring
            }
        );
        assert_eq!(
            cmd("!inc commander INC-2 @alice"),
            Command::Commander {
                incident: Some(IncidentId(2)),
                person: "alice".into()
            }
        );
        assert_eq!(
            cmd("!inc resolve"),
            Command::Resolve {
                incident: None,
                summary: None
            }
        );
        assert_eq!(
            cmd("!inc resolve INC-4 rolled back the deploy"),
            Command::Resolve {
                incident: Some(IncidentId(4)),
                summary: Some("rolled back the deploy".into())
            }
        );
        assert_eq!(cmd("!inc show"), Command::Show { incident: None });
        assert_eq!(cmd("!inc list"), Command::List { resolved: None });
        assert_eq!(
            cmd("!inc sla 2026-11-26T10:00:00Z"),
            Command::Sla {
                at: Some("2026-11-26T10:00:00Z".into())
            }
        );
        assert_eq!(
            cmd("!inc help Status"),
            Command::Help {
                topic: Some("status".into())
            }
        );
    }

    /// Every command that takes `[INC-n]` first, with the rest it needs.
    const WITH_REFERENCE: &[(&str, &str)] = &[
        ("ack", ""),
        ("update", "rolled back"),
        ("status", "monitoring"),
        ("severity", "sev1"),
        ("title", "DB down"),
        ("commander", "alice"),
        ("resolve", "fixed"),
        ("reopen", ""),
        ("apps", "checkout"),
        ("impact", "no card payments"),
        ("show", ""),
        ("timeline", ""),
        ("publish", ""),
        ("unpublish", ""),
    ];

    fn incident_of(c: &Command) -> Option<IncidentId> {
        match c {
            Command::Ack { incident }
            | Command::Update { incident, .. }
            | Command::Status { incident, .. }
            | Command::Severity { incident, .. }
            | Command::Title { incident, .. }
            | Command::Commander { incident, .. }
            | Command::Resolve { incident, .. }
            | Command::Apps { incident, .. }
            | Command::Impact { incident, .. }
            | Command::Show { incident }
            | Command::Timeline { incident }
            | Command::Publish { incident, .. } => *incident,
            Command::Reopen { incident } => Some(*incident),
            _ => None,
        }
    }

    #[test]
    fn the_table_of_commands_with_a_reference_is_the_grammar_s() {
        let in_grammar: Vec<&str> = GRAMMAR
            .iter()
            .filter(|s| s.reference != Reference::None)
            .map(|s| s.name)
            .collect();
        let tested: Vec<&str> = WITH_REFERENCE.iter().map(|(n, _)| *n).collect();
        assert_eq!(in_grammar, tested);
    }

    #[test]
    fn a_malformed_reference_is_refused_by_every_command_never_read_as_text() {
        let malformed = [
            "INC 1",
            "inc 1",
            "INCIDENT 1",
            "#1",
            "#12",
            "INC-",
            "INC- 1",
            "INC-x",
            "INC-1a",
            "INC-1:",
            "INC-1,",
            "inc1",
            "INC1",
            "INC_1",
            "INC:1",
            "INC#1",
            "incident-1",
            "INC—1",
            "INC-\u{0661}",
            "INC-9999999999999999",
            "inc",
            "INC",
        ];
        for (name, rest) in WITH_REFERENCE {
            for bad in malformed {
                let text = format!("!inc {name} {bad} {rest}");
                let u = usage_of(text.trim_end());
                assert!(
                    u.contains("is not an incident reference")
                        && u.contains(&format!("Usage: !incident {name}")),
                    "{text:?} -> {u}"
                );
            }
        }
        assert!(usage_of("!inc resolve INC 1").contains("`INC 1` is not an incident reference"));
        assert!(usage_of("!inc resolve #1 fixed").contains("`#1` is not an incident reference"));
    }

    #[test]
    fn a_well_formed_reference_always_names_its_incident() {
        for (name, rest) in WITH_REFERENCE {
            for (written, id) in [("INC-1", 1), ("inc-7", 7), ("Inc-42", 42), ("INC-007", 7)] {
                let text = format!("!inc {name} {written} {rest}");
                assert_eq!(
                    incident_of(&cmd(text.trim_end())),
                    Some(IncidentId(id)),
                    "{text:?}"
                );
            }
        }
    }

    #[test]
    fn a_reference_without_the_text_it_needs_is_refused() {
        for (name, rest) in WITH_REFERENCE.iter().filter(|(_, r)| {
            // Commands whose text is optional take the reference alone.
            !r.is_empty() && *r != "fixed"
        }) {
            let text = format!("!inc {name} INC-1");
            let u = usage_of(&text);
            assert!(
                u.contains("INC-1 is named but") && u.contains("is missing"),
                "{text:?} ({rest}) -> {u}"
            );
        }
        assert!(usage_of("!inc update INC-1").contains("INC-1 is named but <text> is missing"));
        assert!(
            usage_of("!inc impact INC-1")
                .contains("INC-1 is named but <business impact> is missing")
        );
        assert_eq!(
            cmd("!inc resolve INC-1"),
            Command::Resolve {
                incident: Some(IncidentId(1)),
                summary: None
            }
        );
    }

    #[test]
    fn words_that_only_begin_like_a_reference_are_text() {
        for (text, expected) in [
            ("!inc update increased the pool", "increased the pool"),
            (
                "!inc update incidents elsewhere too",
                "incidents elsewhere too",
            ),
            ("!inc update #ops is flooded", "#ops is flooded"),
            (
                "!inc update rollback of INC-2's deploy",
                "rollback of INC-2's deploy",
            ),
        ] {
            assert_eq!(
                cmd(text),
                Command::Update {
                    incident: None,
                    text: expected.into()
                },
                "{text:?}"
            );
        }
    }

    #[test]
    fn unknown_severities_are_refused_naming_the_valid_ones() {
        for bad in [
            "sev0",
            "sev5",
            "SEV9",
            "sev",
            "sev-1",
            "severity1",
            "p1",
            "P9",
            "sev10",
        ] {
            for text in [
                format!("!inc open Checkout down {bad}"),
                format!("!inc open {bad} Checkout down"),
            ] {
                let u = usage_of(&text);
                assert!(
                    u.contains(&format!("`{bad}` is not a severity"))
                        && u.contains(
                            "SEV1 (critical), SEV2 (major), SEV3 (minor, the default), SEV4 (low)"
                        ),
                    "{text:?} -> {u}"
                );
            }
            assert!(
                usage_of(&format!("!inc severity INC-1 {bad}")).contains("is not a severity"),
                "{bad}"
            );
        }
        // A severity first is read when none ends the line.
        assert_eq!(
            cmd("!inc open sev1 Checkout down"),
            Command::Open {
                title: "Checkout down".into(),
                severity: Severity::Sev1,
                description: None,
            }
        );
        // Words that are not meant as a severity stay in the title.
        for title in [
            "Logins fail for several",
            "sevens table broken",
            "p1x down",
            "up 5",
        ] {
            assert_eq!(
                cmd(&format!("!inc open {title}")),
                Command::Open {
                    title: title.into(),
                    severity: Severity::Sev3,
                    description: None,
                },
                "{title}"
            );
        }
        assert!(usage_of("!inc open sev1").contains("empty once invisible characters"));
    }

    #[test]
    fn severity_and_title_commands() {
        for (word, sev) in [("sev1", Severity::Sev1), ("SEV4", Severity::Sev4)] {
            assert_eq!(
                cmd(&format!("!inc severity {word}")),
                Command::Severity {
                    incident: None,
                    severity: sev
                }
            );
        }
        assert!(
            usage_of("!inc severity")
                .contains("Usage: !incident severity [INC-n] <sev1|sev2|sev3|sev4>")
        );
        assert!(usage_of("!inc severity sev1 now").contains("Usage: !incident severity"));
        assert_eq!(
            cmd("!inc title INC-3 Checkout times out"),
            Command::Title {
                incident: Some(IncidentId(3)),
                title: "Checkout times out".into()
            }
        );
        assert!(
            usage_of("!inc title \u{200B}\u{202E}").contains("empty once invisible characters")
        );
        assert!(usage_of(&format!("!inc title {}", "t".repeat(201))).contains("limited to 200"));
        assert!(help(None).contains("!incident severity [INC-n]"));
        assert!(help(None).contains("!incident title [INC-n] <title>"));
    }

    #[test]
    fn only_the_first_line_is_the_command() {
        // The severity is read from the first line only; the rest is the first update.
        assert_eq!(
            cmd("!inc open Checkout down\nseen since 10:02\n\nrollback started sev1\n"),
            Command::Open {
                title: "Checkout down".into(),
                severity: Severity::Sev3,
                description: Some("seen since 10:02\n\nrollback started sev1".into()),
            }
        );
        assert_eq!(
            cmd("!inc open Checkout down sev2\r\ndetails"),
            Command::Open {
                title: "Checkout down".into(),
                severity: Severity::Sev2,
                description: Some("details".into()),
            }
        );
        assert!(usage_of("!inc open\nCheckout down sev1").contains("Usage: !incident open"));
        // Text commands go on over the lines.
        assert_eq!(
            cmd("!inc impact INC-2\ncard payments fail\nfor EU"),
            Command::Impact {
                incident: Some(IncidentId(2)),
                text: "card payments fail\nfor EU".into()
            }
        );
        // Others take the first line, and the engine says the rest was not used.
        assert_eq!(
            cmd("!inc status INC-2 monitoring\nidentified"),
            Command::Status {
                incident: Some(IncidentId(2)),
                status: Status::Monitoring
            }
        );
        assert_eq!(cmd("!inc ack\nINC-9"), Command::Ack { incident: None });
        assert_eq!(more_lines("!inc ack\nINC-9\n\nok\n"), 2);
        assert_eq!(more_lines("!inc ack"), 0);
        assert_eq!(parse("hello\n!inc ack"), Parsed::NotACommand);
        assert!(!is_command("hello\n!inc ack"));
        assert!(is_command("!inc ack\nhello"));
        for s in GRAMMAR {
            let expected = match s.name {
                "update" | "impact" | "resolve" => MoreLines::Text,
                "open" => MoreLines::Description,
                _ => MoreLines::Unused,
            };
            assert_eq!(s.more_lines, expected, "{}", s.name);
        }
    }

    #[test]
    fn list_resolved_since_a_date_or_a_span() {
        assert_eq!(
            cmd("!inc list resolved"),
            Command::List {
                resolved: Some(Since::Ago(Duration::days(7)))
            }
        );
        for (since, expected) in [
            (
                "2026-12-01",
                Since::Date(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()),
            ),
            ("7d", Since::Ago(Duration::days(7))),
            ("24h", Since::Ago(Duration::hours(24))),
            ("2W", Since::Ago(Duration::weeks(2))),
            ("90m", Since::Ago(Duration::minutes(90))),
        ] {
            assert_eq!(
                cmd(&format!("!inc list RESOLVED {since}")),
                Command::List {
                    resolved: Some(expected)
                },
                "{since}"
            );
        }
        for bad in [
            "yesterday",
            "7",
            "0d",
            "-1d",
            "7y",
            "2026-13-01",
            "d",
            "1.5h",
        ] {
            assert!(
                usage_of(&format!("!inc list resolved {bad}")).contains("neither a date"),
                "{bad}"
            );
        }
        assert!(
            usage_of("!inc list closed").contains("Usage: !incident list [resolved [<since>]]")
        );
        assert!(usage_of("!inc list resolved 7d more").contains("Usage: !incident list"));
    }

    #[test]
    fn apps_and_impact() {
        assert_eq!(
            cmd("!inc apps INC-3 checkout, payments-api ,"),
            Command::Apps {
                incident: Some(IncidentId(3)),
                apps: vec!["checkout".into(), "payments-api".into()]
            }
        );
        assert_eq!(
            cmd("!inc impact card payments fail"),
            Command::Impact {
                incident: None,
                text: "card payments fail".into()
            }
        );
        assert!(usage_of("!inc apps").contains("Usage: !incident apps"));
    }

    #[test]
    fn malformed_commands_get_usage_naming_the_right_form() {
        assert!(usage_of("!inc status INC-3 fixed").contains("`fixed` is not a status"));
        assert!(usage_of("!inc status").contains("!incident status [INC-n]"));
        assert!(usage_of("!inc reopen").contains("Usage: !incident reopen INC-n"));
        assert!(usage_of("!inc ack INC-x").contains("Usage: !incident ack [INC-n]"));
        assert!(usage_of("!inc list everything").contains("Usage: !incident list"));
        assert!(usage_of("!inc frobnicate").contains("Unknown command `frobnicate`"));
        assert!(usage_of("!inc").contains("Which command?"));
        assert!(usage_of("!inc update").contains("Usage: !incident update"));
        assert!(usage_of("!inc commander INC-1 two words").contains("Usage"));
    }

    #[test]
    fn long_messages_are_refused_with_the_reason() {
        let text = format!("!inc update {}", "y".repeat(4000));
        assert!(usage_of(&text).contains("limited to 4000"));
        let ok = format!("!inc update {}", "y".repeat(3980));
        assert!(matches!(
            parse(&ok),
            Parsed::Command(Command::Update { .. })
        ));
    }

    #[test]
    fn help_comes_from_the_table() {
        let h = help(None);
        for s in GRAMMAR {
            assert!(h.contains(&s.usage()), "{}", s.name);
        }
        assert!(help(Some("ack")).starts_with("!incident ack [INC-n]"));
        assert!(help(Some("nope")).contains("No command `nope`"));
        // Every example in the table parses to its own command.
        for s in GRAMMAR {
            assert_eq!(cmd(s.example).name(), s.name);
        }
    }

    #[test]
    fn arbitrary_input_never_panics() {
        for t in [
            "!inc \u{0}",
            "!inc open \u{200b}",
            "!inc ack INC-999999999999999",
            "!inc ack INC-9999999999999999999999",
            "!inc 💥",
            "!inc status INC-1 ✅",
        ] {
            let _ = parse(t);
        }
    }

    #[test]
    fn oncall_and_its_alias() {
        assert_eq!(cmd("!inc oncall"), Command::Oncall { set: None });
        assert_eq!(cmd("!oncall"), Command::Oncall { set: None });
        assert_eq!(
            cmd("!oncall override @bob 2026-11-24 18:00 2026-11-25T09:00:00Z"),
            Command::Oncall {
                set: Some(OncallOverride {
                    person: "bob".into(),
                    from: "2026-11-24 18:00".into(),
                    to: "2026-11-25T09:00:00Z".into(),
                })
            }
        );
        assert!(usage_of("!incident oncall override bob").contains("Usage: !incident oncall"));
        assert_eq!(parse("!oncallx"), Parsed::NotACommand);
    }

    #[test]
    fn publish_and_unpublish_take_an_optional_incident() {
        for (word, published) in [("publish", true), ("unpublish", false)] {
            assert_eq!(
                cmd(&format!("!inc {word} inc-12")),
                Command::Publish {
                    incident: Some(IncidentId(12)),
                    published
                }
            );
            assert_eq!(
                cmd(&format!("!incident {}", word.to_uppercase())),
                Command::Publish {
                    incident: None,
                    published
                }
            );
            assert_eq!(cmd(&format!("!inc {word}")).name(), word);
            assert!(RESTRICTABLE.contains(&word));
            for bad in ["INC-x", "INC-1 now", "everything"] {
                assert!(
                    usage_of(&format!("!inc {word} {bad}"))
                        .contains(&format!("Usage: !incident {word} [INC-n]")),
                    "{word} {bad}"
                );
            }
        }
    }
}
