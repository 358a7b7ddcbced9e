//! Slack Web API client: bot-token methods, `apps.connections.open` with the app token,
//! per-channel rate limiting and 429 handling.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use serde_json::{Value, json};

/// Why a Web API call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// Slack answered `{"ok":false,"error":...}`.
    #[error("slack error `{0}`")]
    Slack(String),
    /// HTTP 429; wait `Retry-After`.
    #[error("rate limited (retry after {0:?})")]
    RateLimited(Duration),
    /// 5xx, network trouble, or an unreadable answer.
    #[error("temporary failure: {0}")]
    Transient(String),
}

impl ApiError {
    /// Errors that mean the credentials are no good: retrying cannot help.
    pub fn is_auth(&self) -> bool {
        matches!(self, ApiError::Slack(e) if matches!(e.as_str(),
            "invalid_auth" | "not_authed" | "token_revoked" | "token_expired"
                | "account_inactive" | "not_allowed_token_type" | "missing_scope"
                | "team_access_not_granted" | "ekm_access_denied"))
    }

    /// Slack error codes that are temporary on Slack's side.
    pub fn is_temporary(&self) -> bool {
        match self {
            ApiError::Slack(e) => matches!(
                e.as_str(),
                "ratelimited"
                    | "rate_limited"
                    | "fatal_error"
                    | "internal_error"
                    | "request_timeout"
                    | "service_unavailable"
            ),
            _ => true,
        }
    }
}

/// What `auth.test` says about us.
#[derive(Debug, Clone, Deserialize)]
pub struct Identity {
    pub user_id: String,
    #[serde(default)]
    pub bot_id: Option<String>,
    #[serde(default)]
    pub team: Option<String>,
}

pub struct WebApi {
    http: reqwest::Client,
    base: String,
    bot_token: String,
    app_token: Option<String>,
    limiter: DefaultKeyedRateLimiter<String>,
    /// Per-method "no calls before" after a 429, so one 429 does not become a loop of them.
    paused: Mutex<HashMap<&'static str, Instant>>,
    names: Mutex<HashMap<String, String>>,
}

impl WebApi {
    pub fn new(
        base: &str,
        bot_token: String,
        app_token: Option<String>,
        rate_per_sec: u32,
        burst: u32,
    ) -> anyhow::Result<WebApi> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("flare/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let rate = NonZeroU32::new(rate_per_sec).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(rate);
        let mut base = base.to_string();
        if !base.ends_with('/') {
            base.push('/');
        }
        Ok(WebApi {
            http,
            base,
            bot_token,
            app_token,
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            paused: Mutex::new(HashMap::new()),
            names: Mutex::new(HashMap::new()),
        })
    }

    /// Waits for the channel's share of the posting rate.
    pub async fn wait_channel(&self, channel: &str) {
        self.limiter.until_key_ready(&channel.to_string()).await;
    }

    async fn wait_pause(&self, method: &'static str) {
        let until = self.paused.lock().ok().and_then(|p| p.get(method).copied());
        if let Some(until) = until {
            tokio::time::sleep_until(until.into()).await;
        }
    }

    fn pause(&self, method: &'static str, after: Duration) {
        if let Ok(mut p) = self.paused.lock() {
            p.insert(method, Instant::now() + after);
        }
    }

    /// One call with the bot token; `json` bodies for write methods, forms for the rest
    /// (Slack's read methods do not accept JSON).
    async fn call(&self, method: &'static str, body: Body<'_>) -> Result<Value, ApiError> {
        self.wait_pause(method).await;
        let token = match body {
            Body::AppForm => self.app_token.as_deref().unwrap_or_default(),
            _ => &self.bot_token,
        };
        let url = format!("{}{}", self.base, method);
        let req = self.http.post(url).bearer_auth(token);
        let req = match body {
            Body::Json(v) => req
                .header("content-type", "application/json; charset=utf-8")
                .body(v.to_string()),
            Body::Form(f) => req.form(f),
            Body::AppForm => req.form(&[] as &[(&str, &str)]),
        };
        let resp = req
            .send()
            .await
            .map_err(|e| ApiError::Transient(format!("{method}: {}", without_url(&e))))?;
        let status = resp.status();
        if status.as_u16() == 429 {
            let after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|s| Duration::from_secs(s.max(1)))
                .unwrap_or(Duration::from_secs(30));
            self.pause(method, after);
            return Err(ApiError::RateLimited(after));
        }
        if status.is_server_error() {
            return Err(ApiError::Transient(format!("{method}: HTTP {status}")));
        }
        let value: Value = resp.json().await.map_err(|e| {
            ApiError::Transient(format!("{method}: bad answer: {}", without_url(&e)))
        })?;
        if value.get("ok").and_then(Value::as_bool) == Some(true) {
            Ok(value)
        } else {
            let err = value
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or(if status.is_success() {
                    "unknown_error"
                } else {
                    status.as_str()
                })
                .to_string();
            Err(ApiError::Slack(err))
        }
    }

    pub async fn auth_test(&self) -> Result<Identity, ApiError> {
        let v = self.call("auth.test", Body::Form(&[])).await?;
        serde_json::from_value(v).map_err(|e| ApiError::Transient(format!("auth.test: {e}")))
    }

    /// `apps.connections.open` with the app-level token: a fresh websocket URL.
    pub async fn connections_open(&self) -> Result<String, ApiError> {
        let v = self.call("apps.connections.open", Body::AppForm).await?;
        v.get("url")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| ApiError::Transient("apps.connections.open: no url".into()))
    }

    /// `chat.postMessage`; returns the new message's `ts`.
    pub async fn post_message(
        &self,
        channel: &str,
        text: &str,
        thread_ts: Option<&str>,
        reply_broadcast: bool,
    ) -> Result<String, ApiError> {
        let mut body = json!({
            "channel": channel,
            "text": text,
            // Relayed text must never turn `@here` into a mention.
            "link_names": false,
            "unfurl_links": false,
            "unfurl_media": false,
        });
        if let Some(t) = thread_ts {
            body["thread_ts"] = json!(t);
            if reply_broadcast {
                body["reply_broadcast"] = json!(true);
            }
        }
        let v = self.call("chat.postMessage", Body::Json(&body)).await?;
        ts_of("chat.postMessage", &v)
    }

    pub async fn update(&self, channel: &str, ts: &str, text: &str) -> Result<String, ApiError> {
        // No `link_names`: chat.update types it as a string, and its default is no linking.
        let body = json!({"channel": channel, "ts": ts, "text": text});
        let v = self.call("chat.update", Body::Json(&body)).await?;
        ts_of("chat.update", &v)
    }

    pub async fn delete(&self, channel: &str, ts: &str) -> Result<(), ApiError> {
        let body = json!({"channel": channel, "ts": ts});
        self.call("chat.delete", Body::Json(&body))
            .await
            .map(|_| ())
    }

    /// Display name for a user id, cached; falls back to the id when Slack cannot say.
    pub async fn display_name(&self, user: &str) -> String {
        if let Some(n) = self.names.lock().ok().and_then(|m| m.get(user).cloned()) {
            return n;
        }
        // Bot ids (`B...`) and odd ids have no users.info entry.
        if !super::text::is_user_id(user) {
            return user.to_string();
        }
        match self.call("users.info", Body::Form(&[("user", user)])).await {
            Ok(v) => {
                let u = &v["user"];
                let name = [
                    &u["profile"]["display_name"],
                    &u["profile"]["real_name"],
                    &u["real_name"],
                    &u["name"],
                ]
                .into_iter()
                .filter_map(Value::as_str)
                .find(|s| !s.is_empty())
                .unwrap_or(user)
                .to_string();
                if let Ok(mut m) = self.names.lock() {
                    // A bounded cache: a workspace's active responders fit easily.
                    if m.len() > 10_000 {
                        m.clear();
                    }
                    m.insert(user.to_string(), name.clone());
                }
                name
            }
            Err(ApiError::Slack(e)) => {
                // Slack will not know this user later either: remember the id as the name.
                tracing::warn!(user, error = %e, "users.info refused; showing the user id");
                if let Ok(mut m) = self.names.lock() {
                    m.insert(user.to_string(), user.to_string());
                }
                user.to_string()
            }
            Err(e) => {
                tracing::warn!(user, error = %e, "users.info failed; showing the user id");
                user.to_string()
            }
        }
    }
}

enum Body<'a> {
    Json(&'a Value),
    Form(&'a [(&'a str, &'a str)]),
    AppForm,
}

fn ts_of(method: &str, v: &Value) -> Result<String, ApiError> {
    v.get("ts")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ApiError::Transient(format!("{method}: answer without ts")))
}

/// reqwest errors include the URL; ours never hold secrets, but keep messages short.
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(u.as_str(), "");
    }
    s
}
