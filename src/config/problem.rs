//! The leaf every part of the configuration shares: a problem with its key, the error that
//! lists them, and the parsers for durations, secrets and URLs. Imports nothing from Flare.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// One thing wrong with the configuration, with the key it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration:\n{}", .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Problem>),
}

impl ConfigError {
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            ConfigError::Read { path, source } => vec![Problem {
                key: path.display().to_string(),
                reason: source.to_string(),
            }],
            ConfigError::Invalid(p) => p.clone(),
        }
    }
}

/// Parses `15m`, `2s`, `1h 30m`; a problem names `key`.
pub fn parse_duration(key: &str, value: &str, problems: &mut Vec<Problem>) -> Option<Duration> {
    match humantime::parse_duration(value.trim()) {
        Ok(d) => Some(d),
        Err(e) => {
            problems.push(Problem {
                key: key.to_string(),
                reason: format!("`{value}` is not a duration like 15m, 90s or 1h: {e}"),
            });
            None
        }
    }
}

/// Resolves a secret that may be given inline (usually from the environment) or as a file.
pub fn secret(
    key: &str,
    value: &Option<String>,
    file: &Option<PathBuf>,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    match (value, file) {
        (Some(_), Some(_)) => {
            problems.push(Problem {
                key: key.to_string(),
                reason: format!("give either {key} or {key}_file, not both"),
            });
            None
        }
        (Some(v), None) => Some(v.clone()),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(s) => Some(s.trim_end_matches(['\r', '\n']).to_string()),
            Err(e) => {
                problems.push(Problem {
                    key: format!("{key}_file"),
                    reason: format!("cannot read {}: {e}", path.display()),
                });
                None
            }
        },
        (None, None) => None,
    }
}

/// Hides the password in a URL for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}
