//! `[http]`: where the HTTP server (health, readiness, metrics) listens.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::problem::{Problem, parse_duration};

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// `false` turns the server off (as does `listen = ""`).
    pub enabled: bool,
    /// `host:port` to listen on; port 0 picks a free one. In a container, `0.0.0.0:8080`.
    pub listen: String,
    /// A request that takes longer is answered 408.
    pub request_timeout: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: true,
            listen: "127.0.0.1:8080".into(),
            request_timeout: "10s".into(),
        }
    }
}

impl HttpConfig {
    /// The address to listen on, or `None` when the server is off.
    pub fn address(&self) -> Result<Option<SocketAddr>, Problem> {
        let listen = self.listen.trim();
        if !self.enabled || listen.is_empty() {
            return Ok(None);
        }
        listen.parse().map(Some).map_err(|_| Problem {
            key: "http.listen".into(),
            reason: format!(
                "`{listen}` is not an address to listen on: give an IP and a port, like \
                 127.0.0.1:8080 or 0.0.0.0:8080 (or \"\" to turn the server off)"
            ),
        })
    }

    pub fn timeout(&self) -> Duration {
        humantime::parse_duration(self.request_timeout.trim()).unwrap_or(Duration::from_secs(10))
    }

    pub(super) fn check(&self, problems: &mut Vec<Problem>) {
        if let Err(p) = self.address() {
            problems.push(p);
        }
        if let Some(d) = parse_duration("http.request_timeout", &self.request_timeout, problems)
            && d.is_zero()
        {
            problems.push(Problem {
                key: "http.request_timeout".into(),
                reason: "must be more than 0s".into(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_listen(listen: &str) -> HttpConfig {
        HttpConfig {
            listen: listen.into(),
            ..HttpConfig::default()
        }
    }

    #[test]
    fn default_listens_on_loopback_8080() {
        let a = HttpConfig::default().address().expect("valid");
        assert_eq!(a, Some("127.0.0.1:8080".parse().expect("addr")));
    }

    #[test]
    fn empty_listen_or_disabled_turns_it_off() {
        assert_eq!(with_listen("").address().expect("valid"), None);
        assert_eq!(with_listen("  ").address().expect("valid"), None);
        let off = HttpConfig {
            enabled: false,
            ..HttpConfig::default()
        };
        assert_eq!(off.address().expect("valid"), None);
    }

    #[test]
    fn addresses_of_every_form_are_read() {
        for ok in ["0.0.0.0:8080", "127.0.0.1:0", "[::1]:9000", "[::]:80"] {
            assert!(with_listen(ok).address().expect(ok).is_some(), "{ok}");
        }
    }

    #[test]
    fn bad_addresses_are_problems_with_their_key() {
        for bad in [
            "localhost",
            "8080",
            "127.0.0.1",
            "127.0.0.1:99999",
            "http://x:1",
            "::1:80",
        ] {
            let p = with_listen(bad).address().expect_err(bad);
            assert_eq!(p.key, "http.listen", "{bad}");
        }
    }
}
