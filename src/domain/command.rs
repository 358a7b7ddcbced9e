//! The chat command grammar, the same on every platform: `!incident <command> ...` or
//! `!inc <command> ...`. One table drives parsing, usage replies and help.

use std::sync::LazyLock;

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
    List,
    Show {
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
            Command::Commander { .. } => "commander",
            Command::Resolve { .. } => "resolve",
            Command::Reopen { .. } => "reopen",
            Command::Apps { .. } => "apps",
            Command::Impact { .. } => "impact",
            Command::List => "list",
            Command::Show { .. } => "show",
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

/// One row of the grammar.
pub struct Spec {
    pub name: &'static str,
    pub args: &'static str,
    pub summary: &'static str,
    pub example: &'static str,
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
}

/// The grammar. Patterns match the text after the command word.
pub static GRAMMAR: &[Spec] = &[
    Spec {
        name: "open",
        args: "<title> [sev1-4]",
        summary: "open an incident (default SEV3) with a thread in every incident channel",
        example: "!incident open Checkout API returns 500 sev1",
        pattern: r"^(?s)(?P<title>\S.*?)(?:\s+(?P<sev>(?i:sev[1-4])))?$",
    },
    Spec {
        name: "ack",
        args: "[INC-n]",
        summary: "acknowledge an incident; the time is your message's own timestamp",
        example: "!incident ack INC-7",
        pattern: r"^(?:(?P<inc>(?i:INC-[0-9]{1,15})))?$",
    },
    Spec {
        name: "update",
        args: "[INC-n] <text>",
        summary: "post a status update to every incident and announcement channel",
        example: "!incident update INC-7 failover to the replica is done",
        pattern: r"^(?s)(?:(?P<inc>(?i:INC-[0-9]{1,15}))(?:\s+|$))?(?P<text>\S.*)$",
    },
    Spec {
        name: "status",
        args: "[INC-n] <investigating|identified|monitoring|resolved>",
        summary: "move the incident forward",
        example: "!incident status INC-7 monitoring",
        pattern: r"^(?:(?P<inc>(?i:INC-[0-9]{1,15}))\s+)?(?P<status>\S+)$",
    },
    Spec {
        name: "commander",
        args: "[INC-n] <person>",
        summary: "name the incident commander",
        example: "!incident commander INC-7 alice",
        pattern: r"^(?:(?P<inc>(?i:INC-[0-9]{1,15}))\s+)?@?(?P<person>[^\s@<>]{1,64})$",
    },
    Spec {
        name: "resolve",
        args: "[INC-n] [summary]",
        summary: "resolve the incident, with an optional summary",
        example: "!incident resolve INC-7 bad deploy rolled back",
        pattern: r"^(?s)(?:(?P<inc>(?i:INC-[0-9]{1,15}))(?:\s+|$))?(?P<text>.*)$",
    },
    Spec {
        name: "reopen",
        args: "INC-n",
        summary: "reopen a resolved incident",
        example: "!incident reopen INC-7",
        pattern: r"^(?P<inc>(?i:INC-[0-9]{1,15}))$",
    },
    Spec {
        name: "apps",
        args: "[INC-n] <application>[, <application>...]",
        summary: "record the applications the incident affects",
        example: "!incident apps INC-7 checkout, payments-api",
        pattern: r"^(?s)(?:(?P<inc>(?i:INC-[0-9]{1,15}))(?:\s+|$))?(?P<text>[^\s,][^\n]*)$",
    },
    Spec {
        name: "impact",
        args: "[INC-n] <business impact>",
        summary: "record the business impact",
        example: "!incident impact INC-7 customers cannot pay by card",
        pattern: r"^(?s)(?:(?P<inc>(?i:INC-[0-9]{1,15}))(?:\s+|$))?(?P<text>\S.*)$",
    },
    Spec {
        name: "list",
        args: "",
        summary: "list open incidents",
        example: "!incident list",
        pattern: r"^$",
    },
    Spec {
        name: "show",
        args: "INC-n",
        summary: "show an incident: status, acknowledgement and SLA, deliveries, timeline",
        example: "!incident show INC-7",
        pattern: r"^(?:(?P<inc>(?i:INC-[0-9]{1,15})))?$",
    },
    Spec {
        name: "sla",
        args: "[<time>]",
        summary: "the ack window for an incident starting now or at an RFC 3339 time",
        example: "!incident sla 2026-11-26T10:00:00-05:00",
        pattern: r"^(?P<at>\S+)?$",
    },
    Spec {
        name: "oncall",
        args: "[override <person> <from> <to>]",
        summary: "who is on call now and next; or put someone on call for a while (RFC 3339 or local YYYY-MM-DD HH:MM)",
        example: "!incident oncall override bob 2026-11-24 18:00 2026-11-25 09:00",
        pattern: r"^(?:(?i:override)\s+@?(?P<person>[^\s@<>]{1,64})\s+(?P<from>\S+(?:\s+[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?)?)\s+(?P<to>\S+(?:\s+[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?)?))?$",
    },
    Spec {
        name: "publish",
        args: "[INC-n]",
        summary: "show the incident and its status updates on the public status page",
        example: "!incident publish INC-7",
        pattern: r"^(?:(?P<inc>(?i:INC-[0-9]{1,15})))?$",
    },
    Spec {
        name: "unpublish",
        args: "[INC-n]",
        summary: "take the incident off the public status page",
        example: "!incident unpublish INC-7",
        pattern: r"^(?:(?P<inc>(?i:INC-[0-9]{1,15})))?$",
    },
    Spec {
        name: "help",
        args: "[command]",
        summary: "this help, or one command's",
        example: "!incident help status",
        pattern: r"^(?P<topic>\S+)?$",
    },
];

static PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?s)!(?i:incident|inc)(?:\s+(?P<cmd>\S+)(?:\s+(?P<rest>.*))?)?\s*$")
        .unwrap_or_else(|e| panic!("prefix pattern: {e}"))
});

static PATTERNS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    GRAMMAR
        .iter()
        .map(|s| Regex::new(s.pattern).unwrap_or_else(|e| panic!("pattern for {}: {e}", s.name)))
        .collect()
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

/// True when the text is addressed to Flare (starts with `!incident`, `!inc` or `!oncall`).
pub fn is_command(text: &str) -> bool {
    PREFIX.is_match(expand_alias(text).trim_start())
}

/// Parses one chat message.
pub fn parse(text: &str) -> Parsed {
    let expanded = expand_alias(text);
    let text = expanded.as_ref();
    let trimmed = text.trim();
    let Some(caps) = PREFIX.captures(trimmed) else {
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
    let Some(c) = PATTERNS[index].captures(rest) else {
        return usage(spec, "");
    };
    build(spec, &c)
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

fn inc(c: &Captures<'_>) -> Option<IncidentId> {
    c.name("inc").and_then(|m| m.as_str().parse().ok())
}

fn build(spec: &Spec, c: &Captures<'_>) -> Parsed {
    let text = |name: &str| c.name(name).map(|m| m.as_str().trim().to_string());
    let cmd = match spec.name {
        "open" => {
            let title = text("title").unwrap_or_default();
            if super::text::is_blank(&title) {
                return usage(
                    spec,
                    "The title is empty once invisible characters are removed",
                );
            }
            if title.chars().count() > MAX_TITLE_CHARS {
                return usage(
                    spec,
                    &format!("The title is limited to {MAX_TITLE_CHARS} characters"),
                );
            }
            let severity = c
                .name("sev")
                .and_then(|m| m.as_str().parse().ok())
                .unwrap_or_default();
            Command::Open { title, severity }
        }
        "ack" => Command::Ack { incident: inc(c) },
        "update" => Command::Update {
            incident: inc(c),
            text: text("text").unwrap_or_default(),
        },
        "status" => {
            let word = text("status").unwrap_or_default();
            match word.parse::<Status>() {
                Ok(status) => Command::Status {
                    incident: inc(c),
                    status,
                },
                Err(()) => return usage(spec, &format!("`{word}` is not a status")),
            }
        }
        "commander" => Command::Commander {
            incident: inc(c),
            person: text("person").unwrap_or_default(),
        },
        "resolve" => Command::Resolve {
            incident: inc(c),
            summary: text("text").filter(|s| !s.is_empty()),
        },
        "reopen" => match inc(c) {
            Some(incident) => Command::Reopen { incident },
            None => return usage(spec, ""),
        },
        "apps" => Command::Apps {
            incident: inc(c),
            apps: text("text")
                .unwrap_or_default()
                .split(',')
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty())
                .collect(),
        },
        "impact" => Command::Impact {
            incident: inc(c),
            text: text("text").unwrap_or_default(),
        },
        "list" => Command::List,
        "show" => Command::Show { incident: inc(c) },
        "sla" => Command::Sla { at: text("at") },
        "oncall" => Command::Oncall {
            set: text("person").map(|person| OncallOverride {
                person,
                from: text("from").unwrap_or_default(),
                to: text("to").unwrap_or_default(),
            }),
        },
        "publish" => Command::Publish {
            incident: inc(c),
            published: true,
        },
        "unpublish" => Command::Publish {
            incident: inc(c),
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
                severity: Severity::Sev1
            }
        );
        assert_eq!(
            cmd("!inc open DB slow"),
            Command::Open {
                title: "DB slow".into(),
                severity: Severity::Sev3
            }
        );
        assert_eq!(
            cmd("!INC OPEN sev2 is in the title SEV4"),
            Command::Open {
                title: "sev2 is in the title".into(),
                severity: Severity::Sev4
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
        assert_eq!(cmd("!inc list"), Command::List);
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
