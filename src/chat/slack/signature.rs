//! Slack request signing (v0): `v0=` + hex(HMAC-SHA256(secret, "v0:" + timestamp + ":" + body)).

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-Slack-Request-Timestamp or X-Slack-Signature")]
    Missing,
    #[error("timestamp is not a number")]
    BadTimestamp,
    #[error("timestamp outside the replay window")]
    Stale,
    #[error("signature does not match")]
    Mismatch,
}

fn mac(secret: &str, ts: &str, body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut m = <HmacSha256 as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("hmac takes any key length"));
    m.update(b"v0:");
    m.update(ts.as_bytes());
    m.update(b":");
    m.update(body);
    m
}

/// The `X-Slack-Signature` value for a request.
pub fn sign(secret: &str, ts: &str, body: &[u8]) -> String {
    format!(
        "v0={}",
        hex::encode(mac(secret, ts, body).finalize().into_bytes())
    )
}

/// Checks a request's signature over its raw body, in constant time, and that its timestamp
/// is within `max_age_secs` of `now_unix` (either way), before anything is parsed.
pub fn verify(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_unix: i64,
    max_age_secs: i64,
) -> Result<(), SignatureError> {
    let (Some(ts), Some(sig)) = (timestamp, signature) else {
        return Err(SignatureError::Missing);
    };
    let ts_num: i64 = ts
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    if (now_unix - ts_num).abs() > max_age_secs {
        return Err(SignatureError::Stale);
    }
    let given = sig
        .strip_prefix("v0=")
        .and_then(|h| hex::decode(h).ok())
        .ok_or(SignatureError::Mismatch)?;
    mac(secret, ts, body)
        .verify_slice(&given)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer_from_slack_docs() {
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let secret = "8f742231b10e8888abcd99yyyzzz85a5";
        let expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(sign(secret, "1531420618", body.as_bytes()), expected);
        let now = 1531420618 + 10;
        assert_eq!(
            verify(
                secret,
                Some("1531420618"),
                Some(expected),
                body.as_bytes(),
                now,
                300
            ),
            Ok(())
        );
        assert_eq!(
            verify(
                secret,
                Some("1531420618"),
                Some(expected),
                b"tampered",
                now,
                300
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                secret,
                Some("1531420618"),
                Some(expected),
                body.as_bytes(),
                now + 600,
                300
            ),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(secret, None, Some(expected), body.as_bytes(), now, 300),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(
                secret,
                Some("1531420618"),
                Some("v0=zz"),
                body.as_bytes(),
                now,
                300
            ),
            Err(SignatureError::Mismatch)
        );
    }
}
