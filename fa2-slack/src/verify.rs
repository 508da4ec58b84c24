//! Request authentication: `X-Slack-Signature` (v0 HMAC-SHA256 of `v0:{timestamp}:{body}`,
//! compared in constant time by slack-morphism's verifier), timestamps at most 5 minutes
//! away (checked here against the caller's clock, and again by slack-morphism against the
//! system clock), and a cap on the body size. Failures carry a reason for the log only; the HTTP answer
//! is a bare 401.

use http::HeaderMap;
use slack_morphism::prelude::SlackSigningSecret;
use slack_morphism::signature_verifier::SlackEventSignatureVerifier;

/// Largest request body accepted (Slack's own payloads stay far below it).
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// Largest distance between the request timestamp and now.
pub const MAX_SKEW_SECS: i64 = 300;

/// Why a request was refused (logged, never sent back).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("missing X-Slack-Signature or X-Slack-Request-Timestamp header")]
    MissingHeaders,
    #[error("timestamp is not a number")]
    BadTimestamp,
    #[error("timestamp is {0} s away from now (more than 5 minutes)")]
    Stale(i64),
    #[error("body is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("body is not UTF-8")]
    NotUtf8,
    #[error("signature does not match")]
    BadSignature,
    #[error("no signing secret is configured")]
    NoSecret,
}

/// Verifies requests signed with one signing secret.
#[derive(Clone)]
pub struct RequestVerifier {
    verifier: Option<SlackEventSignatureVerifier>,
}

impl std::fmt::Debug for RequestVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // never print the secret
        f.debug_struct("RequestVerifier")
            .field("configured", &self.verifier.is_some())
            .finish()
    }
}

impl RequestVerifier {
    pub fn new(signing_secret: &str) -> Self {
        let verifier = (!signing_secret.is_empty()).then(|| {
            SlackEventSignatureVerifier::new(&SlackSigningSecret::new(signing_secret.to_string()))
        });
        RequestVerifier { verifier }
    }

    /// Checks the request at wall-clock time `now` (unix seconds); returns the body as text.
    pub fn verify<'b>(
        &self,
        headers: &HeaderMap,
        body: &'b [u8],
        now: i64,
    ) -> Result<&'b str, VerifyError> {
        let verifier = self.verifier.as_ref().ok_or(VerifyError::NoSecret)?;
        if body.len() > MAX_BODY_BYTES {
            return Err(VerifyError::TooLarge);
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let (Some(signature), Some(ts)) = (
            header(SlackEventSignatureVerifier::SLACK_SIGNED_HASH_HEADER),
            header(SlackEventSignatureVerifier::SLACK_SIGNED_TIMESTAMP),
        ) else {
            return Err(VerifyError::MissingHeaders);
        };
        let ts_num: i64 = ts.trim().parse().map_err(|_| VerifyError::BadTimestamp)?;
        let skew = (now - ts_num).abs();
        if skew > MAX_SKEW_SECS {
            return Err(VerifyError::Stale(skew));
        }
        let text = std::str::from_utf8(body).map_err(|_| VerifyError::NotUtf8)?;
        verifier
            .verify(signature, text, ts)
            .map_err(|_| VerifyError::BadSignature)?;
        Ok(text)
    }
}

/// `v0=` + hex HMAC-SHA256 of `v0:{ts}:{body}`: how Slack signs (used by tests and tools).
pub fn sign(secret: &str, ts: i64, body: &str) -> String {
    use hmac::{Hmac, Mac};
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(format!("v0:{ts}:{body}").as_bytes());
    let bytes = mac.finalize().into_bytes();
    let mut out = String::from("v0=");
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn headers(sig: &str, ts: i64) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-slack-signature", sig.parse().unwrap());
        h.insert("x-slack-request-timestamp", ts.to_string().parse().unwrap());
        h
    }

    #[test]
    fn slack_documented_example_verifies() {
        // The example from Slack's "Verifying requests from Slack" guide.
        let secret = "8f742231b10e8888abcd99yyyzzz85a5";
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let ts = 1531420618;
        let expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(sign(secret, ts, body), expected);
        // slack-morphism's verifier reads the system clock, so a 2018 request is stale today
        let v = RequestVerifier::new(secret);
        assert!(
            v.verify(&headers(expected, ts), body.as_bytes(), ts + 10)
                .is_err()
        );
        let now = chrono::Utc::now().timestamp();
        let fresh = sign(secret, now, body);
        assert!(
            v.verify(&headers(&fresh, now), body.as_bytes(), now)
                .is_ok()
        );
    }

    #[test]
    fn refusals() {
        let v = RequestVerifier::new("s3cret");
        let now = chrono::Utc::now().timestamp();
        let body = b"{}";
        let good = sign("s3cret", now, "{}");
        assert!(v.verify(&headers(&good, now), body, now).is_ok());
        assert_eq!(
            v.verify(&headers(&sign("other", now, "{}"), now), body, now),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            v.verify(&headers(&good, now), b"{} ", now),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            v.verify(&headers(&good, now), body, now + 301),
            Err(VerifyError::Stale(301))
        );
        assert_eq!(
            v.verify(&HeaderMap::new(), body, now),
            Err(VerifyError::MissingHeaders)
        );
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(
            v.verify(&headers(&good, now), &big, now),
            Err(VerifyError::TooLarge)
        );
        assert_eq!(
            RequestVerifier::new("").verify(&headers(&good, now), body, now),
            Err(VerifyError::NoSecret)
        );
    }
}
