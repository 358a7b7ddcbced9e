//! Rocket.Chat REST v1 client: auth headers, login, and the per-endpoint rate limiter
//! (`x-ratelimit-remaining` / `x-ratelimit-reset` in epoch milliseconds, and 429).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::config::Credentials;

/// Why a REST call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RestError {
    /// Connection refused, reset, timed out: worth retrying.
    #[error("network error: {0}")]
    Network(String),
    /// The rate limiter says wait this long.
    #[error("rate limited for {after:?}")]
    RateLimited { after: Duration },
    /// 5xx: worth retrying.
    #[error("server error {status}: {error}")]
    Server { status: u16, error: String },
    /// The server refused the request itself (4xx or `success: false`).
    #[error("{error}")]
    Rejected {
        status: u16,
        error: String,
        error_type: Option<String>,
    },
    /// Credentials were not accepted.
    #[error("not authorised: {0}")]
    Unauthorized(String),
    /// The account needs a second factor, which a bot cannot give.
    #[error(
        "the account needs two-factor authentication (totp-required): create a personal access \
         token for the bot and configure user_id + token instead of username/password"
    )]
    TotpRequired,
    /// The body was not the JSON Rocket.Chat sends.
    #[error("unexpected response: {0}")]
    Malformed(String),
}

impl RestError {
    /// The machine-readable error (`errorType`, else the `[error-...]` in the message).
    pub fn error_type(&self) -> Option<String> {
        match self {
            RestError::Rejected {
                error, error_type, ..
            } => error_type.clone().or_else(|| {
                let open = error.rfind('[')?;
                let close = error[open..].find(']')? + open;
                Some(error[open + 1..close].to_string())
            }),
            _ => None,
        }
    }
}

/// The session headers: a personal access token, or the token from `/api/v1/login`.
#[derive(Clone)]
pub struct Session {
    pub user_id: String,
    pub token: String,
}

#[derive(Debug, Clone, Copy, Default)]
struct Window {
    remaining: Option<i64>,
    reset_ms: Option<i64>,
}

pub struct Rest {
    http: reqwest::Client,
    base: url::Url,
    credentials: Credentials,
    session: tokio::sync::Mutex<Option<Session>>,
    windows: std::sync::Mutex<HashMap<String, Window>>,
    max_wait: Duration,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn header_i64(headers: &reqwest::header::HeaderMap, name: &str) -> Option<i64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

impl Rest {
    pub fn new(
        base: url::Url,
        credentials: Credentials,
        timeout: Duration,
        max_wait: Duration,
    ) -> anyhow::Result<Rest> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("flare/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Rest {
            http,
            base,
            credentials,
            session: tokio::sync::Mutex::new(None),
            windows: std::sync::Mutex::new(HashMap::new()),
            max_wait,
        })
    }

    fn url(&self, endpoint: &str) -> Result<url::Url, RestError> {
        self.base
            .join(&format!("api/v1/{endpoint}"))
            .map_err(|e| RestError::Malformed(format!("bad URL for {endpoint}: {e}")))
    }

    /// The current session, logging in first when needed.
    pub async fn session(&self) -> Result<Session, RestError> {
        let mut guard = self.session.lock().await;
        if let Some(s) = guard.as_ref() {
            return Ok(s.clone());
        }
        let s = match &self.credentials {
            Credentials::Token { user_id, token } => Session {
                user_id: user_id.clone(),
                token: token.clone(),
            },
            Credentials::Password { username, password } => self.login(username, password).await?,
        };
        *guard = Some(s.clone());
        Ok(s)
    }

    /// Drops a password session so the next call logs in again (tokens from `login` expire).
    pub async fn forget_session(&self) {
        if matches!(self.credentials, Credentials::Password { .. }) {
            *self.session.lock().await = None;
        }
    }

    pub fn uses_password(&self) -> bool {
        matches!(self.credentials, Credentials::Password { .. })
    }

    async fn login(&self, username: &str, password: &str) -> Result<Session, RestError> {
        let resp = self
            .http
            .post(self.url("login")?)
            .json(&json!({ "user": username, "password": password }))
            .send()
            .await
            .map_err(|e| RestError::Network(e.without_url().to_string()))?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let text = body.to_string();
        if text.contains("totp-required") || text.contains("error-two-factor") {
            return Err(RestError::TotpRequired);
        }
        if status.is_server_error() {
            return Err(RestError::Server {
                status: status.as_u16(),
                error: "login failed".into(),
            });
        }
        let data = &body["data"];
        match (data["userId"].as_str(), data["authToken"].as_str()) {
            (Some(user_id), Some(token)) if status.is_success() => Ok(Session {
                user_id: user_id.to_string(),
                token: token.to_string(),
            }),
            _ => Err(RestError::Unauthorized(format!(
                "login as `{username}` refused ({status}): {}",
                body["message"]
                    .as_str()
                    .or(body["error"].as_str())
                    .unwrap_or("wrong username or password")
            ))),
        }
    }

    /// How long the limiter for `endpoint` says to wait before the next call.
    fn wait_for(&self, endpoint: &str) -> Option<Duration> {
        let windows = self.windows.lock().ok()?;
        let w = windows.get(endpoint)?;
        let reset = w.reset_ms?;
        let left = reset - now_ms();
        (w.remaining? <= 0 && left > 0).then(|| Duration::from_millis(left as u64))
    }

    fn record_window(&self, endpoint: &str, headers: &reqwest::header::HeaderMap) {
        let remaining = header_i64(headers, "x-ratelimit-remaining");
        let reset_ms = header_i64(headers, "x-ratelimit-reset");
        if remaining.is_none() && reset_ms.is_none() {
            return;
        }
        if let Ok(mut windows) = self.windows.lock() {
            windows.insert(
                endpoint.to_string(),
                Window {
                    remaining,
                    reset_ms,
                },
            );
        }
    }

    /// Waits out the limiter when the wait is short; otherwise hands back the wait.
    async fn respect_limit(&self, wait: Duration) -> Result<(), RestError> {
        if wait > self.max_wait {
            return Err(RestError::RateLimited { after: wait });
        }
        tracing::debug!(
            wait_ms = wait.as_millis() as u64,
            "rocketchat rate limit: waiting"
        );
        tokio::time::sleep(wait).await;
        Ok(())
    }

    pub async fn get(&self, endpoint: &str, query: &[(&str, String)]) -> Result<Value, RestError> {
        self.call(Method::GET, endpoint, query, None).await
    }

    pub async fn post(&self, endpoint: &str, body: &Value) -> Result<Value, RestError> {
        self.call(Method::POST, endpoint, &[], Some(body)).await
    }

    async fn call(
        &self,
        method: Method,
        endpoint: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, RestError> {
        let mut relogged = false;
        let mut waited_429 = 0;
        loop {
            if let Some(wait) = self.wait_for(endpoint) {
                self.respect_limit(wait).await?;
            }
            let session = self.session().await?;
            let mut req = self
                .http
                .request(method.clone(), self.url(endpoint)?)
                .header("X-Auth-Token", &session.token)
                .header("X-User-Id", &session.user_id);
            if !query.is_empty() {
                req = req.query(query);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| RestError::Network(e.without_url().to_string()))?;
            let status = resp.status();
            self.record_window(endpoint, resp.headers());
            let reset = header_i64(resp.headers(), "x-ratelimit-reset");
            let text = resp
                .text()
                .await
                .map_err(|e| RestError::Network(e.without_url().to_string()))?;
            let json: Option<Value> = serde_json::from_str(&text).ok();
            if status == StatusCode::TOO_MANY_REQUESTS {
                let after = reset
                    .map(|r| Duration::from_millis((r - now_ms()).max(0) as u64))
                    .unwrap_or(Duration::from_secs(1))
                    .max(Duration::from_millis(50));
                waited_429 += 1;
                if waited_429 > 3 {
                    return Err(RestError::RateLimited { after });
                }
                self.respect_limit(after).await?;
                continue;
            }
            if status == StatusCode::UNAUTHORIZED {
                if self.uses_password() && !relogged {
                    relogged = true;
                    self.forget_session().await;
                    continue;
                }
                let msg = json
                    .as_ref()
                    .and_then(|j| j["message"].as_str().map(str::to_string))
                    .unwrap_or_else(|| "401".into());
                return Err(RestError::Unauthorized(msg));
            }
            if status.is_server_error() {
                return Err(RestError::Server {
                    status: status.as_u16(),
                    error: json
                        .as_ref()
                        .and_then(|j| j["error"].as_str().map(str::to_string))
                        .unwrap_or_else(|| status.to_string()),
                });
            }
            let Some(json) = json else {
                return Err(RestError::Malformed(format!(
                    "{endpoint} answered {status} with a body that is not JSON"
                )));
            };
            let success = json["success"].as_bool().unwrap_or(status.is_success());
            if !status.is_success() || !success {
                return Err(RestError::Rejected {
                    status: status.as_u16(),
                    error: json["error"]
                        .as_str()
                        .or(json["message"].as_str())
                        .unwrap_or("request refused")
                        .to_string(),
                    error_type: json["errorType"].as_str().map(str::to_string),
                });
            }
            return Ok(json);
        }
    }
}
