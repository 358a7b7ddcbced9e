//! Every document carries a strong `ETag` (a hash of its bytes) and `Cache-Control`; a
//! request whose `If-None-Match` names the current tag gets `304 Not Modified`.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// No script at all, styles only from the page's own stylesheet.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Short: aggregators poll, and a new update should show within a minute.
pub const CACHE_CONTROL: &str = "public, max-age=30";

pub fn etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    format!("\"{}\"", hex::encode(&digest[..16]))
}

fn matches(if_none_match: &str, tag: &str) -> bool {
    if_none_match.trim() == "*"
        || if_none_match
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == tag)
}

/// The document with its caching headers, or 304 when the client has it.
pub fn respond(req: &HeaderMap, content_type: &'static str, body: Vec<u8>) -> Response {
    let tag = etag(&body);
    let fresh = req
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| matches(v, &tag));
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&tag) {
        headers.insert(header::ETAG, v);
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    if fresh {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    (StatusCode::OK, headers, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_accepts_lists_weak_tags_and_star() {
        let tag = etag(b"x");
        assert!(matches(&tag, &tag));
        assert!(matches(&format!("\"a\", W/{tag}"), &tag));
        assert!(matches("*", &tag));
        assert!(!matches("\"other\"", &tag));
        assert_ne!(etag(b"x"), etag(b"y"));
    }
}
