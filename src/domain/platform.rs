//! What the chat side and the rest of Flare both speak of: the kinds of platform, how a
//! message is meant, and what a configured channel is for. Plain values, no I/O.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The kind of chat system an adapter speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlatformKind {
    Console,
    Irc,
    Slack,
    #[serde(rename = "rocketchat")]
    RocketChat,
}

impl PlatformKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PlatformKind::Console => "console",
            PlatformKind::Irc => "irc",
            PlatformKind::Slack => "slack",
            PlatformKind::RocketChat => "rocketchat",
        }
    }
}

impl fmt::Display for PlatformKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an outbound message is meant; adapters render each the way their platform expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    /// The bot answering a command.
    Reply,
    /// The root message of an incident's thread on a channel.
    ThreadRoot,
    /// A status update: posted in the thread, and shown in the channel where the platform can
    /// (Slack `reply_broadcast`, Rocket.Chat `tshow`), when configured.
    StatusUpdate,
    /// An announcement in a channel (not in a thread).
    Announcement,
    /// A message mirrored from another platform or channel, attributed to `author`.
    Mirror,
    /// A reminder or escalation ping (IRC sends it as NOTICE).
    Reminder,
}

impl Style {
    pub fn as_str(self) -> &'static str {
        match self {
            Style::Reply => "reply",
            Style::ThreadRoot => "thread_root",
            Style::StatusUpdate => "status_update",
            Style::Announcement => "announcement",
            Style::Mirror => "mirror",
            Style::Reminder => "reminder",
        }
    }

    pub fn parse(s: &str) -> Option<Style> {
        Some(match s {
            "reply" => Style::Reply,
            "thread_root" => Style::ThreadRoot,
            "status_update" => Style::StatusUpdate,
            "announcement" => Style::Announcement,
            "mirror" => Style::Mirror,
            "reminder" => Style::Reminder,
            _ => return None,
        })
    }
}

/// Where a configured channel serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRole {
    pub platform: String,
    pub kind: PlatformKind,
    pub channel: String,
    /// Incidents get a thread here, and what is said in that thread is mirrored.
    pub incident: bool,
    /// Status updates and incident announcements are posted here.
    pub announce: bool,
}
