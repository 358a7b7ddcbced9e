//! The console chat: stdin lines are messages, bot output is printed with its destination.
//! A real adapter behind the same trait as the others, so Flare can be tried with no server.
//!
//! Line syntax (anything else is a message from the current user in the current place):
//!   /user NAME          write as NAME from now on
//!   /channel #NAME      write in another channel (and leave the thread)
//!   /thread INC-n       write in incident n's thread; `/thread` alone leaves it
//!   /as NAME TEXT       one message from NAME
//!   /react [EMOJI]      react to the current thread's incident message
//!   /edit TEXT          edit your last message
//!   /delete             delete your last message
//!   //TEXT              a message that starts with `/`
//!   /help               this list
//!   /quit               stop (like end of input)

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::watch;

use crate::chat::text::neutralise_controls;
use crate::chat::{
    Author, ChatAdapter, Inbound, InboundKind, InboundSink, Outbound, PlatformKind, SendError,
    Sent, Style,
};
use crate::clock::SharedClock;
use crate::config::ConsoleConfig;

pub const HELP: &str = "console: /user NAME | /channel #NAME | /thread INC-n (or /thread to leave) | /as NAME TEXT | /react [EMOJI] | /edit TEXT | /delete | //TEXT | /help | /quit";

type Input = Box<dyn AsyncRead + Send + Unpin>;
type Output = Box<dyn Write + Send>;

pub struct ConsoleAdapter {
    config: ConsoleConfig,
    clock: SharedClock,
    input: tokio::sync::Mutex<Option<Input>>,
    output: Mutex<Output>,
    run_id: i64,
    next_id: AtomicU64,
    eof: watch::Sender<bool>,
}

/// Where the console user is writing.
struct Place {
    user: String,
    channel: String,
    incident: Option<i64>,
    last: Option<(String, String)>,
}

impl ConsoleAdapter {
    pub fn new(
        config: ConsoleConfig,
        clock: SharedClock,
        input: impl AsyncRead + Send + Unpin + 'static,
        output: impl Write + Send + 'static,
    ) -> ConsoleAdapter {
        let run_id = clock.now().timestamp_micros();
        ConsoleAdapter {
            config,
            clock,
            input: tokio::sync::Mutex::new(Some(Box::new(input))),
            output: Mutex::new(Box::new(output)),
            run_id,
            next_id: AtomicU64::new(1),
            eof: watch::channel(false).0,
        }
    }

    /// Turns true when the input ended (EOF or `/quit`).
    pub fn input_closed(&self) -> watch::Receiver<bool> {
        self.eof.subscribe()
    }

    fn print(&self, line: &str) {
        let mut out = self.output.lock().unwrap_or_else(|e| e.into_inner());
        // A closed stdout must not take the bot down.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    fn message_id(&self) -> String {
        format!(
            "{}-{}",
            self.run_id,
            self.next_id.fetch_add(1, Ordering::Relaxed)
        )
    }

    fn inbound(
        &self,
        place: &Place,
        user: &str,
        event: InboundKind,
        text: String,
        id: String,
    ) -> Inbound {
        Inbound {
            platform: "console".into(),
            kind: PlatformKind::Console,
            event,
            channel: place.channel.clone(),
            thread: place.incident.map(|n| format!("INC-{n}")),
            incident_hint: place.incident,
            author: Author {
                id: user.to_string(),
                display: user.to_string(),
            },
            text,
            message_id: id,
            sent_at: self.clock.now(),
            receipt: None,
        }
    }

    /// One input line: a message to pass on, a local command, or the end.
    fn line(&self, place: &mut Place, line: &str) -> Step {
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            return Step::Nothing;
        }
        if let Some(literal) = line.strip_prefix("//") {
            return self.say(place, None, format!("/{literal}"));
        }
        let Some(cmd) = line.strip_prefix('/') else {
            return self.say(place, None, line.to_string());
        };
        let (word, rest) = cmd.split_once(' ').unwrap_or((cmd, ""));
        let rest = rest.trim();
        match word {
            "user" if !rest.is_empty() => {
                place.user = rest.to_string();
                Step::Local(format!("console: you are now {rest}"))
            }
            "channel" if !rest.is_empty() => {
                place.channel = rest.to_string();
                place.incident = None;
                Step::Local(format!("console: now in {rest}"))
            }
            "thread" if rest.is_empty() => {
                place.incident = None;
                Step::Local(format!("console: back in {}", place.channel))
            }
            "thread" => match rest.parse::<crate::domain::incident::IncidentId>() {
                Ok(id) => {
                    place.incident = Some(id.0);
                    Step::Local(format!("console: now in {} ▸ {id}", place.channel))
                }
                Err(()) => Step::Local(format!("console: `{rest}` is not INC-n. {HELP}")),
            },
            "as" => match rest.split_once(' ') {
                Some((who, text)) if !text.trim().is_empty() => {
                    self.say(place, Some(who.to_string()), text.trim().to_string())
                }
                _ => Step::Local(format!("console: /as NAME TEXT. {HELP}")),
            },
            "react" => match place.incident {
                Some(n) => {
                    let name = if rest.is_empty() { "eyes" } else { rest };
                    let user = place.user.clone();
                    Step::Send(self.inbound(
                        place,
                        &user,
                        InboundKind::Reaction {
                            name: name.to_string(),
                        },
                        String::new(),
                        format!("INC-{n}"),
                    ))
                }
                None => Step::Local("console: /react needs a thread (/thread INC-n)".into()),
            },
            "edit" if !rest.is_empty() => match place.last.clone() {
                Some((user, id)) => {
                    Step::Send(self.inbound(place, &user, InboundKind::Edit, rest.to_string(), id))
                }
                None => Step::Local("console: nothing to edit yet".into()),
            },
            "delete" => match place.last.take() {
                Some((user, id)) => {
                    Step::Send(self.inbound(place, &user, InboundKind::Delete, String::new(), id))
                }
                None => Step::Local("console: nothing to delete".into()),
            },
            "quit" | "exit" => Step::Quit,
            "help" => Step::Local(HELP.into()),
            _ => Step::Local(format!("console: unknown `/{word}`. {HELP}")),
        }
    }

    fn say(&self, place: &mut Place, who: Option<String>, text: String) -> Step {
        let user = who.unwrap_or_else(|| place.user.clone());
        let id = self.message_id();
        place.last = Some((user.clone(), id.clone()));
        Step::Send(self.inbound(place, &user, InboundKind::Message, text, id))
    }
}

/// One input line without its line ending; `Err` with the line decoded lossily when it was
/// not valid UTF-8 (a Latin-1 byte must not end the input and drop every later command).
fn decode_line(raw: &[u8]) -> Result<String, String> {
    let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    match std::str::from_utf8(raw) {
        Ok(line) => Ok(line.to_string()),
        Err(_) => Err(String::from_utf8_lossy(raw).into_owned()),
    }
}

// One value per input line, moved at once: boxing the event would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Step {
    Nothing,
    Local(String),
    Send(Inbound),
    Quit,
}

#[async_trait]
impl ChatAdapter for ConsoleAdapter {
    fn name(&self) -> &str {
        "console"
    }

    fn kind(&self) -> PlatformKind {
        PlatformKind::Console
    }

    async fn run(self: Arc<Self>, inbound: InboundSink) -> anyhow::Result<()> {
        let Some(input) = self.input.lock().await.take() else {
            anyhow::bail!("console: already running");
        };
        let mut input = BufReader::new(input);
        let mut buf = Vec::new();
        let mut warned = false;
        let mut place = Place {
            user: self.config.user.clone(),
            channel: self.config.channel.clone(),
            incident: None,
            last: None,
        };
        loop {
            buf.clear();
            match input.read_until(b'\n', &mut buf).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "console input unreadable; stopping input");
                    break;
                }
            }
            let line = match decode_line(&buf) {
                Ok(line) => line,
                Err(line) => {
                    if !warned {
                        warned = true;
                        self.print(
                            "console: input is not valid UTF-8; bad bytes are read as \u{FFFD}",
                        );
                    }
                    line
                }
            };
            match self.line(&mut place, &line) {
                Step::Nothing => {}
                Step::Local(text) => self.print(&text),
                Step::Send(ev) => {
                    if inbound.send(ev).await.is_err() {
                        break;
                    }
                }
                Step::Quit => break,
            }
        }
        let _ = self.eof.send(true);
        Ok(())
    }

    async fn send(&self, msg: &Outbound) -> Result<Sent, SendError> {
        let id = format!("c{}", msg.delivery_id);
        let mut place = msg.channel.clone();
        if let Some(t) = &msg.thread {
            place.push_str(&format!(" ▸ {t}"));
        } else if let (
            Some(n),
            Style::Reply | Style::StatusUpdate | Style::Mirror | Style::Reminder,
        ) = (msg.incident, msg.style)
        {
            place.push_str(&format!(" ▸ INC-{n}"));
        }
        let mut text = String::new();
        if !msg.mentions.is_empty() {
            let who: Vec<String> = msg.mentions.iter().map(|m| format!("@{m}")).collect();
            text.push_str(&format!("{} ", who.join(" ")));
        }
        if msg.style == Style::Reminder {
            text.push_str("NOTICE ");
        }
        if let Some(orig) = &msg.edit_of {
            text.push_str(&format!("(edit of {orig}) "));
        }
        if let Some(orig) = &msg.delete_of {
            text.push_str(&format!("(deleted {orig})"));
            self.print(&neutralise_controls(&format!("[{place}] {text}")));
            return Ok(Sent {
                remote_id: orig.clone(),
                thread: None,
            });
        }
        if let Some(a) = &msg.author {
            text.push_str(&format!("{a} "));
        }
        text.push_str(&msg.text);
        let mut lines = text.lines();
        let first = lines.next().unwrap_or_default();
        let mut printed = format!("[{place}] {first}");
        for l in lines {
            printed.push_str(&format!("\n    {l}"));
        }
        self.print(&neutralise_controls(&printed));
        Ok(Sent {
            remote_id: msg.edit_of.clone().unwrap_or(id),
            thread: (msg.style == Style::ThreadRoot)
                .then(|| msg.incident.map(|n| format!("INC-{n}")))
                .flatten(),
        })
    }
}
