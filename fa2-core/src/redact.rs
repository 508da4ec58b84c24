//! Secret redaction applied to every piece of text before it leaves the process.
//!
//! This module owns the built-in secret patterns (AWS keys and session tokens, bearer and
//! `Authorization` values, JWTs, `password=`-style key/value secrets, URL passwords, PEM private
//! keys, Slack and GitHub tokens), the optional e-mail / IP masking, user-supplied extra
//! patterns, and the marker format `[REDACTED:<name>]` that replaces a secret.
//!
//! Design constraints, in order of importance:
//! * never leak: when unsure whether a key/value pair holds a secret, redact the value;
//! * keep the surrounding text (keys, schemes, hosts) so the evidence stays readable;
//! * idempotent: redacting redacted text is a no-op, markers are never re-redacted;
//! * cheap on clean text, because it runs on every sample line: one literal-trigger search
//!   plus one byte scan decide that most lines need nothing, and only patterns that a single
//!   `RegexSet` pass reports as matching are then run for replacement.

use regex::{Captures, Regex, RegexSet};
use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

/// Redaction settings, usually read from the user's configuration file.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RedactionConfig {
    /// Extra user patterns; each match is replaced with `[REDACTED:<name>]`.
    ///
    /// When a pattern has a capture group named `secret`, only that group is replaced, so a
    /// pattern can keep its context (`ticket=(?P<secret>\d+)`).
    pub extra_patterns: Vec<ExtraPattern>,
    /// Mask e-mail addresses as `[REDACTED:email]`.
    pub mask_emails: bool,
    /// Mask IPv4 and IPv6 addresses as `[REDACTED:ip]`.
    pub mask_ips: bool,
}

/// One user-defined pattern.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExtraPattern {
    /// Marker name; characters outside `[A-Za-z0-9_.-]` are replaced by `-` in the marker so
    /// that markers stay recognisable (and therefore idempotent).
    pub name: String,
    /// A `regex` crate pattern.
    pub regex: String,
}

/// Errors building a [`Redactor`].
#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    #[error("redaction pattern `{name}` is not a valid regex: {source}")]
    InvalidPattern {
        name: String,
        #[source]
        source: regex::Error,
    },
}

/// Applies the built-in and configured patterns. Cheap to clone: built-in regexes are shared.
#[derive(Debug, Clone)]
pub struct Redactor {
    builtin: &'static Builtin,
    mask_emails: bool,
    mask_ips: bool,
    extras: Vec<Extra>,
}

#[derive(Debug, Clone)]
struct Extra {
    marker: String,
    regex: Regex,
    secret_group: Option<usize>,
}

/// Picks the part of a match to replace and the marker to use; `None` keeps the match.
type Locate = fn(&str, &Captures<'_>) -> Option<(Range<usize>, &'static str)>;

#[derive(Debug)]
struct Rule {
    regex: Regex,
    locate: Locate,
}

#[derive(Debug)]
struct Builtin {
    /// Secret rules first, then e-mail, then the two IP rules; indices match `set`.
    rules: Vec<Rule>,
    set: RegexSet,
    /// Literal fragments that every secret rule except the bare AWS secret key needs.
    trigger: Regex,
    email_trigger: usize,
    marker: Regex,
}

/// The last three rules are optional: e-mail first, then IPv4 and IPv6.
const EMAIL_RULE: usize = 0;
const OPTIONAL_RULES: usize = 3;

/// Redaction re-runs until nothing changes, so that a replacement that exposes a new match
/// is still handled and a second `redact` is a no-op. Real text settles after one or two.
const MAX_PASSES: usize = 4;

const AWS_SECRET_LEN: usize = 40;

static BUILTIN: LazyLock<Builtin> = LazyLock::new(Builtin::compile);

impl Builtin {
    fn compile() -> Self {
        // Order matters: earlier rules claim text first, and later rules skip anything that
        // already overlaps a marker. Specific formats go before generic key/value matching.
        let specs: Vec<(&str, Locate)> = vec![
            (
                r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----(?:(?s:.)*?-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|(?s:.)*)",
                |_, c| whole(c, "private-key"),
            ),
            (
                r"(?i)(?-u:\b)bearer[ \t]+(?P<s>[A-Za-z0-9._~+/=-]{8,})",
                locate_bearer,
            ),
            (
                r#"(?i)(?-u:\b)(?:proxy-)?authorization\\?["']?[ \t]*[:=][ \t]*\\?["']?(?:(?P<scheme>[A-Za-z][A-Za-z0-9-]*)[ \t]+)?(?P<s>[^\s"'\\][^"'\r\n\\]*)"#,
                locate_authorization,
            ),
            (
                r#"(?i)(?:aws_?session_?token|aws_?security_?token|session_?token|security_?token|x-amz-security-token)\\?["']?[ \t]*[:=][ \t]*\\?["']?(?P<s>[A-Za-z0-9/+=%_-]{16,})"#,
                |_, c| group(c, "s", "aws-session-token"),
            ),
            (
                r"(?:FwoGZXIvYXdz|IQoJb3JpZ2lu)[A-Za-z0-9/+=%]{20,}",
                |t, c| bounded(t, c, "aws-session-token", is_base64_byte),
            ),
            (
                r#"(?i)[A-Za-z0-9_.-]*secret[A-Za-z0-9_.-]*\\?["']?[ \t]*(?:=>|:=|[:=])[ \t]*\\?["']?(?P<s>[A-Za-z0-9/+]{40})"#,
                locate_contextual_aws_secret,
            ),
            (
                r"eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}(?:\.[A-Za-z0-9_-]*){1,3}",
                |t, c| bounded(t, c, "jwt", is_token_byte),
            ),
            (
                r"(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})",
                |t, c| bounded(t, c, "github-token", is_token_byte),
            ),
            (
                r"(?i)https://hooks\.slack\.com/(?:services|workflows|triggers)/(?P<s>[A-Za-z0-9_/+-]+)",
                |_, c| group(c, "s", "slack-webhook"),
            ),
            (
                r"(?:xox[abposr]-[A-Za-z0-9-]{10,}|xapp-[0-9]+-[A-Za-z0-9-]{10,})",
                |t, c| bounded(t, c, "slack-token", is_token_byte),
            ),
            (
                r"(?:A3T[A-Z0-9]|AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA|APKA)[A-Z0-9]{16}",
                |t, c| bounded(t, c, "aws-access-key-id", |b| b.is_ascii_alphanumeric()),
            ),
            (
                r#"(?i)(?-u:\b)[a-z][a-z0-9+.-]*://[^\s:/?#@"'<>\[\]]*:(?P<s>[^\s/?#@"'<>]+)@"#,
                |_, c| group(c, "s", "url-password"),
            ),
            (
                concat!(
                    r#"(?i)(?P<kw>password|passwd|passphrase|pwd|secret|secret[_-]?key|secret[_-]?access[_-]?key|secret[_-]?string|"#,
                    r#"token|api[_-]?key|apikey|private[_-]?key|x-amz-signature)"#,
                    r#"\\?["']?[ \t]*(?:=>|:=|[:=])[ \t]*"#,
                    r#"(?:"(?P<dq>(?:[^"\\\r\n]|\\.)*)"|'(?P<sq>[^'\r\n]*)'|\\"(?P<eq>(?:[^"\\]|\\[^"])*)\\"|(?P<bare>[^\s"'&,;\[{(<\\][^\s"'&,;\\]*))"#,
                ),
                locate_key_value,
            ),
            (r"[A-Za-z0-9/+]{40,}", locate_bare_aws_secret),
            // Optional rules; keep in the order of the *_RULE constants.
            (
                r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
                |_, c| whole(c, "email"),
            ),
            (
                r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])",
                |t, c| {
                    bounded_with(
                        t,
                        c,
                        "ip",
                        |b| b.is_ascii_digit() || b == b'.',
                        |b| b.is_ascii_digit(),
                    )
                },
            ),
            (r"(?i)[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}", locate_ipv6),
        ];
        let email_trigger = specs.len() - OPTIONAL_RULES + EMAIL_RULE;
        let rules: Vec<Rule> = specs
            .iter()
            .map(|(pattern, locate)| Rule {
                regex: Regex::new(pattern).expect("built-in redaction pattern compiles"),
                locate: *locate,
            })
            .collect();
        let set = RegexSet::new(specs.iter().map(|(p, _)| *p))
            .expect("built-in redaction patterns compile as a set");
        let trigger = Regex::new(concat!(
            r"(?i)pass|pwd|secret|token|api[_-]?key|apikey|private|signature|bearer|authorization|",
            r"://|eyj|xox|xapp|ghp_|gho_|ghu_|ghs_|ghr_|github_pat_|fwogzxivyxdz|iqojb3jpz2lu|",
            r"a3t|akia|asia|agpa|aida|aroa|aipa|anpa|anva|abia|acca|apka"
        ))
        .expect("built-in trigger compiles");
        let marker =
            Regex::new(r"\[REDACTED:[A-Za-z0-9_.-]+\]").expect("built-in marker pattern compiles");
        Self {
            rules,
            set,
            trigger,
            email_trigger,
            marker,
        }
    }

    fn secret_rule_count(&self) -> usize {
        self.rules.len() - OPTIONAL_RULES
    }
}

impl Redactor {
    /// Builds a redactor with the built-in patterns plus `config`.
    pub fn new(config: &RedactionConfig) -> Result<Self, RedactError> {
        let extras = config
            .extra_patterns
            .iter()
            .map(|p| {
                let regex = Regex::new(&p.regex).map_err(|source| RedactError::InvalidPattern {
                    name: p.name.clone(),
                    source,
                })?;
                let secret_group = regex
                    .capture_names()
                    .position(|name| name == Some("secret"));
                Ok(Extra {
                    marker: format!("[REDACTED:{}]", sanitize_name(&p.name)),
                    regex,
                    secret_group,
                })
            })
            .collect::<Result<Vec<_>, RedactError>>()?;
        Ok(Self {
            builtin: LazyLock::force(&BUILTIN),
            mask_emails: config.mask_emails,
            mask_ips: config.mask_ips,
            extras,
        })
    }

    /// The built-in patterns only, without e-mail/IP masking or extra patterns.
    pub fn builtin() -> Self {
        Self {
            builtin: LazyLock::force(&BUILTIN),
            mask_emails: false,
            mask_ips: false,
            extras: Vec::new(),
        }
    }

    /// Replaces every secret with a typed marker like `[REDACTED:aws-secret-key]`; borrowed when nothing matched.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut current = Cow::Borrowed(text);
        for _ in 0..MAX_PASSES {
            match self.pass(&current) {
                Some(next) => current = Cow::Owned(next),
                None => break,
            }
        }
        current
    }

    /// One pass over all enabled rules; `None` when nothing was replaced.
    fn pass(&self, text: &str) -> Option<String> {
        let b = self.builtin;
        let candidate = b.trigger.is_match(text)
            || has_long_run(text)
            || self.mask_ips
            || (self.mask_emails && text.contains('@'))
            || !self.extras.is_empty();
        if !candidate {
            return None;
        }
        let matched = b.set.matches(text);
        let secret_rules = b.secret_rule_count();
        let mut current = Cow::Borrowed(text);
        let mut changed = false;
        for (index, rule) in b.rules.iter().enumerate() {
            let enabled = index < secret_rules
                || (index == b.email_trigger && self.mask_emails)
                || (index > b.email_trigger && self.mask_ips);
            if !enabled || !matched.matched(index) {
                continue;
            }
            if let Some(next) = replace(&current, &b.marker, &rule.regex, |t, c| {
                (rule.locate)(t, c).map(|(range, name)| (range, Cow::Owned(marker(name))))
            }) {
                current = Cow::Owned(next);
                changed = true;
            }
        }
        for extra in &self.extras {
            let located = |_: &str, c: &Captures<'_>| {
                let m = match extra.secret_group {
                    Some(group) => c.get(group)?,
                    None => c.get(0)?,
                };
                Some((m.range(), Cow::Borrowed(extra.marker.as_str())))
            };
            if let Some(next) = replace(&current, &b.marker, &extra.regex, located) {
                current = Cow::Owned(next);
                changed = true;
            }
        }
        if changed {
            Some(current.into_owned())
        } else {
            None
        }
    }
}

fn marker(name: &str) -> String {
    format!("[REDACTED:{name}]")
}

fn sanitize_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "custom".to_string()
    } else {
        cleaned
    }
}

/// Runs `regex` over `text` and splices in markers; `None` when nothing was replaced.
///
/// Matches that are empty or touch an existing marker are left alone: that is what keeps
/// markers from being redacted again (idempotence) and user patterns from eating them.
fn replace<'m>(
    text: &str,
    marker_re: &Regex,
    regex: &Regex,
    locate: impl Fn(&str, &Captures<'_>) -> Option<(Range<usize>, Cow<'m, str>)>,
) -> Option<String> {
    let markers: Vec<Range<usize>> = if text.contains("[REDACTED:") {
        marker_re.find_iter(text).map(|m| m.range()).collect()
    } else {
        Vec::new()
    };
    let mut out = String::new();
    let mut last = 0;
    let mut replaced = false;
    for caps in regex.captures_iter(text) {
        let Some((range, replacement)) = locate(text, &caps) else {
            continue;
        };
        if range.is_empty()
            || range.start < last
            || markers
                .iter()
                .any(|m| m.start < range.end && range.start < m.end)
        {
            continue;
        }
        let (Some(before), Some(_)) = (text.get(last..range.start), text.get(range.clone())) else {
            continue;
        };
        out.push_str(before);
        out.push_str(&replacement);
        last = range.end;
        replaced = true;
    }
    if !replaced {
        return None;
    }
    out.push_str(text.get(last..).unwrap_or_default());
    Some(out)
}

fn whole(c: &Captures<'_>, name: &'static str) -> Option<(Range<usize>, &'static str)> {
    Some((c.get(0)?.range(), name))
}

fn group(
    c: &Captures<'_>,
    group: &str,
    name: &'static str,
) -> Option<(Range<usize>, &'static str)> {
    Some((c.name(group)?.range(), name))
}

/// Whole match, but only when it is not glued to more token characters on either side
/// (the `regex` crate has no look-around).
fn bounded(
    text: &str,
    c: &Captures<'_>,
    name: &'static str,
    is_token: fn(u8) -> bool,
) -> Option<(Range<usize>, &'static str)> {
    bounded_with(text, c, name, is_token, is_token)
}

fn bounded_with(
    text: &str,
    c: &Captures<'_>,
    name: &'static str,
    before_ok: fn(u8) -> bool,
    after_ok: fn(u8) -> bool,
) -> Option<(Range<usize>, &'static str)> {
    let m = c.get(0)?;
    let bytes = text.as_bytes();
    let glued_before = m
        .start()
        .checked_sub(1)
        .and_then(|i| bytes.get(i))
        .is_some_and(|&b| before_ok(b));
    let glued_after = bytes.get(m.end()).is_some_and(|&b| after_ok(b));
    (!glued_before && !glued_after).then(|| (m.range(), name))
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn is_base64_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')
}

fn is_aws_secret_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

fn locate_bearer(_: &str, c: &Captures<'_>) -> Option<(Range<usize>, &'static str)> {
    let s = c.name("s")?;
    let v = s.as_str().as_bytes();
    // "Bearer authentication failed" is prose; opaque tokens carry digits or mixed case.
    let has_digit = v.iter().any(u8::is_ascii_digit);
    let mixed_case = v.iter().any(u8::is_ascii_uppercase) && v.iter().any(u8::is_ascii_lowercase);
    (has_digit || (mixed_case && v.len() >= 16)).then(|| (s.range(), "bearer-token"))
}

fn locate_authorization(_: &str, c: &Captures<'_>) -> Option<(Range<usize>, &'static str)> {
    let s = c.name("s")?;
    let value = s.as_str();
    let single_token_scheme = c.name("scheme").is_some_and(|scheme| {
        [
            "basic",
            "bearer",
            "token",
            "negotiate",
            "ntlm",
            "apikey",
            "key",
        ]
        .iter()
        .any(|known| scheme.as_str().eq_ignore_ascii_case(known))
    });
    let len = if single_token_scheme {
        value
            .find(|ch: char| ch.is_whitespace() || ch == ',' || ch == ';')
            .unwrap_or(value.len())
    } else {
        // Multi-part schemes (AWS4-HMAC-SHA256 Credential=..., Signature=...) and unknown
        // formats: the whole rest of the header value is sensitive.
        value.trim_end().len()
    };
    (len > 0).then(|| (s.start()..s.start() + len, "authorization"))
}

fn locate_contextual_aws_secret(
    text: &str,
    c: &Captures<'_>,
) -> Option<(Range<usize>, &'static str)> {
    let s = c.name("s")?;
    let glued = text
        .as_bytes()
        .get(s.end())
        .is_some_and(|&b| is_aws_secret_byte(b) || b == b'=');
    (!glued).then(|| (s.range(), "aws-secret-key"))
}

/// A bare 40-char token is only an AWS secret key when it looks random: mixed case, digits
/// and a `/` or `+`. Hex digests, trace ids and ordinary paths fail at least one test.
fn locate_bare_aws_secret(text: &str, c: &Captures<'_>) -> Option<(Range<usize>, &'static str)> {
    let m = c.get(0)?;
    let v = m.as_str().as_bytes();
    if v.len() != AWS_SECRET_LEN || text.as_bytes().get(m.end()) == Some(&b'=') {
        return None;
    }
    let upper = v.iter().any(u8::is_ascii_uppercase);
    let lower = v.iter().any(u8::is_ascii_lowercase);
    let digit = v.iter().any(u8::is_ascii_digit);
    let symbols = v.iter().filter(|b| matches!(b, b'/' | b'+')).count();
    let path_like = v.first() == Some(&b'/')
        || v.last() == Some(&b'/')
        || v.windows(2).any(|w| w == b"//")
        || symbols > 6;
    let mut seen = [false; 128];
    for &b in v {
        if let Some(slot) = seen.get_mut(usize::from(b)) {
            *slot = true;
        }
    }
    // 40 random base64 chars have ~30 distinct symbols; words in a path have far fewer.
    let distinct = seen.iter().filter(|&&s| s).count();
    (upper && lower && digit && symbols > 0 && !path_like && distinct >= 20)
        .then(|| (m.range(), "aws-secret-key"))
}

fn locate_key_value(text: &str, c: &Captures<'_>) -> Option<(Range<usize>, &'static str)> {
    let key = c.name("kw")?;
    // `arn:aws:secretsmanager:...:secret:prod/db` names a secret, it does not hold one.
    let arn_segment = key
        .start()
        .checked_sub(1)
        .and_then(|i| text.as_bytes().get(i))
        == Some(&b':');
    if arn_segment {
        return None;
    }
    let kw = key.as_str().to_ascii_lowercase();
    let value = ["dq", "sq", "eq", "bare"].iter().find_map(|g| c.name(g))?;
    let mut secret = value.as_str();
    if c.name("bare").is_some() {
        // `{password: x}` and `(token=x)`: the closer belongs to the syntax, not the value.
        secret = secret.trim_end_matches([')', ']', '}', '>']);
    }
    let lowered = secret.to_ascii_lowercase();
    let placeholder = secret.is_empty()
        || ["null", "none", "nil", "true", "false", "undefined", "\\n"].contains(&lowered.as_str())
        || secret.bytes().all(|b| b == b'*' || b == b'x' || b == b'X')
        || secret.starts_with("${")
        || secret.starts_with("{{");
    // `PWD=/home/app` is the working directory, not a password.
    let cwd = kw == "pwd" && (secret.starts_with('/') || secret.starts_with('~'));
    if placeholder || cwd {
        return None;
    }
    let name = if matches!(kw.as_str(), "password" | "passwd" | "passphrase" | "pwd") {
        "password"
    } else {
        "secret"
    };
    Some((value.start()..value.start() + secret.len(), name))
}

fn locate_ipv6(text: &str, c: &Captures<'_>) -> Option<(Range<usize>, &'static str)> {
    let m = c.get(0)?;
    let bytes = text.as_bytes();
    let glued_before = m
        .start()
        .checked_sub(1)
        .and_then(|i| bytes.get(i))
        .is_some_and(|&b| b.is_ascii_alphanumeric() || b == b':' || b == b'.');
    let glued_after = bytes
        .get(m.end())
        .is_some_and(|&b| b.is_ascii_alphanumeric() || b == b':');
    // The candidate regex also matches times and MAC addresses; the std parser decides.
    let valid = m.as_str().parse::<std::net::Ipv6Addr>().is_ok();
    (valid && !glued_before && !glued_after).then(|| (m.range(), "ip"))
}

/// True when the text has a run of 40+ base64-ish chars, the only built-in secret shape
/// without a literal trigger.
fn has_long_run(text: &str) -> bool {
    let mut run = 0usize;
    for &b in text.as_bytes() {
        if is_aws_secret_byte(b) {
            run += 1;
            if run >= AWS_SECRET_LEN {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const ACCESS_KEY: &str = "AKIAMUBPIPVL2DE3G4DB";
    const SECRET_KEY: &str = "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";
    const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.O6_ka16snvhS9WP1FdkotC6ffY-0-sGIS8fsYNlp.jhVW83uUJuWqUIcSYf-OPMru4TXgIRtI8FknxzNE7Ve";
    const SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjEJr//////////wEaDmFwLW5vcnRoZWFzdC0xIkcwRQIhAKp3Lq8Yc2xT9vZ0dGhpc2lzZmFrZQIgV2hhdGV2ZXIrK3NvbWUvbW9yZS9iYXNlNjQ=";

    fn redact(text: &str) -> String {
        Redactor::builtin().redact(text).into_owned()
    }

    /// Asserts the expected output, that the secret is gone, and idempotence.
    fn check(redactor: &Redactor, input: &str, expected: &str, secret: &str) {
        let once = redactor.redact(input);
        assert_eq!(once, expected, "input: {input}");
        assert!(!once.contains(secret), "{secret} leaked in {once}");
        assert_eq!(redactor.redact(&once), once, "not idempotent: {input}");
    }

    fn check_builtin(input: &str, expected: &str, secret: &str) {
        check(&Redactor::builtin(), input, expected, secret);
    }

    #[test]
    fn aws_access_key_ids() {
        check_builtin(
            &format!("2024-08-16 ERROR auth failed for key {ACCESS_KEY} in ap-northeast-1"),
            "2024-08-16 ERROR auth failed for key [REDACTED:aws-access-key-id] in ap-northeast-1",
            ACCESS_KEY,
        );
        check_builtin(
            "AWS_ACCESS_KEY_ID=ASIAY34FZKBOKMUTVV7A",
            "AWS_ACCESS_KEY_ID=[REDACTED:aws-access-key-id]",
            "ASIAY34FZKBOKMUTVV7A",
        );
        check_builtin(
            r#"{"AccessKeyId":"AIDAJQABLZS4A3QDU576Q"}"#,
            r#"{"AccessKeyId":"AIDAJQABLZS4A3QDU576Q"}"#,
            "never-present",
        );
        check_builtin(
            r#"{"AccessKeyId": "AGPAUMBPIPVL2DE3G4DB"}"#,
            r#"{"AccessKeyId": "[REDACTED:aws-access-key-id]"}"#,
            "AGPAUMBPIPVL2DE3G4DB",
        );
    }

    #[test]
    fn aws_secret_keys() {
        for (input, expected) in [
            (
                format!("aws_secret_access_key = {SECRET_KEY}"),
                "aws_secret_access_key = [REDACTED:aws-secret-key]".to_string(),
            ),
            (
                format!("AWS_SECRET_ACCESS_KEY={SECRET_KEY} AWS_REGION=us-east-1"),
                "AWS_SECRET_ACCESS_KEY=[REDACTED:aws-secret-key] AWS_REGION=us-east-1".to_string(),
            ),
            (
                format!(r#"{{"AccessKeyId": "{ACCESS_KEY}", "SecretAccessKey": "{SECRET_KEY}"}}"#),
                r#"{"AccessKeyId": "[REDACTED:aws-access-key-id]", "SecretAccessKey": "[REDACTED:aws-secret-key]"}"#
                    .to_string(),
            ),
            (
                format!("creds loaded: {ACCESS_KEY}:{SECRET_KEY}"),
                "creds loaded: [REDACTED:aws-access-key-id]:[REDACTED:aws-secret-key]".to_string(),
            ),
            (
                format!("bare {SECRET_KEY} in a log line"),
                "bare [REDACTED:aws-secret-key] in a log line".to_string(),
            ),
        ] {
            check_builtin(&input, &expected, SECRET_KEY);
        }
    }

    #[test]
    fn aws_session_tokens() {
        check_builtin(
            &format!("aws_session_token = {SESSION_TOKEN}"),
            "aws_session_token = [REDACTED:aws-session-token]",
            SESSION_TOKEN,
        );
        check_builtin(
            &format!(r#""SessionToken": "{SESSION_TOKEN}","#),
            r#""SessionToken": "[REDACTED:aws-session-token]","#,
            SESSION_TOKEN,
        );
        check_builtin(
            "GET /obj?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Security-Token=IQoJb3JpZ2luX2VjEJr%2F%2F%2FwEaDmFwLW5vcnRo&X-Amz-Date=20240816T000000Z",
            "GET /obj?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Security-Token=[REDACTED:aws-session-token]&X-Amz-Date=20240816T000000Z",
            "IQoJb3JpZ2luX2VjEJr",
        );
        check_builtin(
            &format!("token blob {SESSION_TOKEN} end"),
            "token blob [REDACTED:aws-session-token] end",
            SESSION_TOKEN,
        );
    }

    #[test]
    fn authorization_and_bearer() {
        check_builtin(
            &format!("Authorization: Bearer {JWT}"),
            "Authorization: Bearer [REDACTED:bearer-token]",
            JWT,
        );
        check_builtin(
            "curl -H 'Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l' https://api.internal/x",
            "curl -H 'Authorization: Basic [REDACTED:authorization]' https://api.internal/x",
            "YWxhZGRpbjpvcGVuc2VzYW1l",
        );
        check_builtin(
            &format!(
                "authorization: AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20240816/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"
            ),
            "authorization: AWS4-HMAC-SHA256 [REDACTED:authorization]",
            "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024",
        );
        check_builtin(
            r#"{"headers":{"Authorization":"Token 9f8e7d6c5b4a39281706","Accept":"*/*"}}"#,
            r#"{"headers":{"Authorization":"Token [REDACTED:authorization]","Accept":"*/*"}}"#,
            "9f8e7d6c5b4a39281706",
        );
        check_builtin(
            "retrying with bearer abc123def456ghi",
            "retrying with bearer [REDACTED:bearer-token]",
            "abc123def456ghi",
        );
    }

    #[test]
    fn jwts() {
        check_builtin(
            &format!("id_token_hint={JWT}&state=42"),
            "id_token_hint=[REDACTED:jwt]&state=42",
            JWT,
        );
        check_builtin(
            &format!(r#"{{"jwt":"{JWT}"}}"#),
            r#"{"jwt":"[REDACTED:jwt]"}"#,
            JWT,
        );
        check_builtin(
            &format!("cookie session={JWT}; Path=/"),
            "cookie session=[REDACTED:jwt]; Path=/",
            JWT,
        );
    }

    #[test]
    fn passwords_and_generic_secrets() {
        for (input, expected, secret) in [
            (
                "connecting with password=Pwt7EcejZGCaa9R3 host=db",
                "connecting with password=[REDACTED:password] host=db",
                "Pwt7EcejZGCaa9R3",
            ),
            (
                r#"{"db_password": "Db8vhIuXDXiN8JYJ", "db_user": "app"}"#,
                r#"{"db_password": "[REDACTED:password]", "db_user": "app"}"#,
                "Db8vhIuXDXiN8JYJ",
            ),
            (
                "PASSWORD: Pwt7EcejZGCaa9R3",
                "PASSWORD: [REDACTED:password]",
                "Pwt7EcejZGCaa9R3",
            ),
            (
                "MYSQL_PWD='Pwt7 Ecej' mysql -u root",
                "MYSQL_PWD='[REDACTED:password]' mysql -u root",
                "Pwt7 Ecej",
            ),
            (
                r#"msg="{\"passwd\":\"Db8vhIuXDXiN8JYJ\"}""#,
                r#"msg="{\"passwd\":\"[REDACTED:password]\"}""#,
                "Db8vhIuXDXiN8JYJ",
            ),
            (
                "client_secret=s3cr3t-Value_01&grant_type=client_credentials",
                "client_secret=[REDACTED:secret]&grant_type=client_credentials",
                "s3cr3t-Value_01",
            ),
            (
                "api_key: 0123456789abcdef0123",
                "api_key: [REDACTED:secret]",
                "0123456789abcdef0123",
            ),
            (
                "{'ApiKey': 'k-998877', 'access_token': 'at-112233'}",
                "{'ApiKey': '[REDACTED:secret]', 'access_token': '[REDACTED:secret]'}",
                "998877",
            ),
            (
                "private_key=MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
                "private_key=[REDACTED:secret]",
                "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
            ),
            (
                "{password: hunter2}",
                "{password: [REDACTED:password]}",
                "hunter2",
            ),
        ] {
            check_builtin(input, expected, secret);
        }
    }

    #[test]
    fn url_passwords() {
        check_builtin(
            "dsn=postgres://app:Db8vhIuXDXiN8JYJ@db.internal:5432/orders sslmode=require",
            "dsn=postgres://app:[REDACTED:url-password]@db.internal:5432/orders sslmode=require",
            "Db8vhIuXDXiN8JYJ",
        );
        check_builtin(
            r#"{"url": "redis://:Pwt7EcejZGCaa9R3@cache:6379/0"}"#,
            r#"{"url": "redis://:[REDACTED:url-password]@cache:6379/0"}"#,
            "Pwt7EcejZGCaa9R3",
        );
        check_builtin(
            "fetching https://deploy:tok3n@git.example.com/repo.git",
            "fetching https://deploy:[REDACTED:url-password]@git.example.com/repo.git",
            "tok3n",
        );
    }

    #[test]
    fn private_keys() {
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgHcT5Z\nq2x8a5t1ZRl0Ubsx\n-----END RSA PRIVATE KEY-----";
        check_builtin(
            &format!("key file:\n{pem}\nloaded"),
            "key file:\n[REDACTED:private-key]\nloaded",
            "MIIEowIBAAKCAQEA",
        );
        check_builtin(
            r#"{"private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkq\n-----END PRIVATE KEY-----\n"}"#,
            r#"{"private_key": "[REDACTED:private-key]\n"}"#,
            "MIIEvQIBADANBgkq",
        );
        // A log line that only carries the start of a key: everything after it is redacted.
        check_builtin(
            "line: -----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXktdjEAAAAA",
            "line: [REDACTED:private-key]",
            "b3BlbnNzaC1rZXktdjEAAAAA",
        );
    }

    #[test]
    fn slack_and_github() {
        for (input, expected, secret) in [
            (
                "SLACK_BOT_TOKEN=xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
                "SLACK_BOT_TOKEN=[REDACTED:slack-token]",
                "AbCdEfGhIjKlMnOpQrStUvWx",
            ),
            (
                "using xoxp-1111-2222-3333-abcdef0123456789 for user calls",
                "using [REDACTED:slack-token] for user calls",
                "abcdef0123456789",
            ),
            (
                "app token xapp-1-A0123456789-1234567890123-abcdef0123456789abcdef",
                "app token [REDACTED:slack-token]",
                "abcdef0123456789abcdef",
            ),
            (
                "posting to https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX now",
                "posting to https://hooks.slack.com/services/[REDACTED:slack-webhook] now",
                "XXXXXXXXXXXXXXXXXXXXXXXX",
            ),
            (
                "git clone with ghp_R2d2C3poBb8Ee7Ff6Gg5Hh4Ii3Jj2Kk1Ll0M failed",
                "git clone with [REDACTED:github-token] failed",
                "ghp_R2d2C3poBb8Ee7Ff6Gg5Hh4Ii3Jj2Kk1Ll0M",
            ),
            (
                "GH=github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP",
                "GH=[REDACTED:github-token]",
                "github_pat_11ABCDEFG",
            ),
            (
                "ghs_16C7e42F292c6912E7710c838347Ae178B4a expired",
                "[REDACTED:github-token] expired",
                "ghs_16C7e42F292c6912E7710c838347Ae178B4a",
            ),
        ] {
            check_builtin(input, expected, secret);
        }
    }

    #[test]
    fn ordinary_text_is_untouched() {
        for text in [
            "",
            "request 3f2b9c1e-8d4a-4f6b-9e2a-1c5d7b8a9f01 finished",
            "trace 1-66bf35a5-0dc4769116c11f79979141d5 sampled",
            "Root=1-66bf35a5-0dc4769116c11f79979141d5;Parent=53995c3f42cd8ad8;Sampled=1",
            "commit da39a3ee5e6b4b0d3255bfef95601890afd80709 (sha1)",
            "etag d41d8cd98f00b204e9800998ecf8427e",
            "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709",
            "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "arn:aws:iam::123456789012:role/service-role/OrdersLambdaExecutionRole",
            "arn:aws:lambda:ap-northeast-1:123456789012:function:orders-api:live",
            "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:prod/db-AbCdEf",
            "password reset requested for user 42",
            "token cache refreshed",
            "Invalid token signature; rejecting request",
            "max_tokens=4096 temperature=0.2",
            "passwordless login enabled",
            "Bearer authentication failed",
            "The Authorization header is missing",
            "s3://orders-bucket/2024/08/16/part-0001.parquet",
            "/var/task/node_modules/aws-sdk/lib/request.js:31:25",
            "src/main/java/com/example/orders/OrderService.java",
            "1723811696123 42 3.14159 -7 0xdeadbeef",
            "user alice@example.com logged in from 10.0.0.12",
            "東京リージョンで Lambda 関数のタイムアウトが発生しました 🔥",
            "PWD=/home/app OLDPWD=/home",
            "password=null token=${API_TOKEN} secret=***",
            "https://console.aws.amazon.com/cloudwatch/home?region=ap-northeast-1#logsV2",
        ] {
            let out = Redactor::builtin().redact(text);
            assert!(matches!(out, Cow::Borrowed(_)), "changed: {text} -> {out}");
        }
    }

    #[test]
    fn clean_text_is_borrowed() {
        let text = "INFO orders-api request completed status=200 latency_ms=12";
        assert!(matches!(Redactor::builtin().redact(text), Cow::Borrowed(_)));
    }

    #[test]
    fn extra_patterns() {
        let config = RedactionConfig {
            extra_patterns: vec![
                ExtraPattern {
                    name: "employee-id".into(),
                    regex: r"EMP-\d{6}".into(),
                },
                ExtraPattern {
                    name: "ticket ref".into(),
                    regex: r"ticket=(?P<secret>[0-9]+)".into(),
                },
                ExtraPattern {
                    name: "greedy".into(),
                    regex: r"[A-Z]*".into(),
                },
            ],
            ..RedactionConfig::default()
        };
        let redactor = Redactor::new(&config).unwrap();
        let out = redactor.redact("by emp EMP-123456 ticket=998877 password=Pwt7EcejZGCaa9R3");
        assert_eq!(
            out,
            "by emp [REDACTED:employee-id] ticket=[REDACTED:ticket-ref] password=[REDACTED:password]"
        );
        assert_eq!(redactor.redact(&out), out);
    }

    #[test]
    fn invalid_extra_pattern_is_an_error() {
        let config = RedactionConfig {
            extra_patterns: vec![ExtraPattern {
                name: "broken".into(),
                regex: "(unclosed".into(),
            }],
            ..RedactionConfig::default()
        };
        let err = Redactor::new(&config).unwrap_err();
        let RedactError::InvalidPattern { name, .. } = &err;
        assert_eq!(name, "broken");
        assert!(err.to_string().contains("`broken` is not a valid regex"));
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn email_and_ip_masking() {
        let text = "user alice.smith+ops@example.co.jp from 10.0.12.34:8443 via 2001:db8:85a3::8a2e:370:7334 and ::1 at 12:30:45 mac 00:1a:2b:3c:4d:5e v1.2.3";
        assert!(matches!(Redactor::builtin().redact(text), Cow::Borrowed(_)));
        let config = RedactionConfig {
            mask_emails: true,
            mask_ips: true,
            ..RedactionConfig::default()
        };
        check(
            &Redactor::new(&config).unwrap(),
            text,
            "user [REDACTED:email] from [REDACTED:ip]:8443 via [REDACTED:ip] and [REDACTED:ip] at 12:30:45 mac 00:1a:2b:3c:4d:5e v1.2.3",
            "alice.smith",
        );
        let emails_only = RedactionConfig {
            mask_emails: true,
            ..RedactionConfig::default()
        };
        assert_eq!(
            Redactor::new(&emails_only).unwrap().redact(text),
            text.replace("alice.smith+ops@example.co.jp", "[REDACTED:email]")
        );
        let ips_only = RedactionConfig {
            mask_ips: true,
            ..RedactionConfig::default()
        };
        let out = Redactor::new(&ips_only).unwrap().redact(text);
        assert!(out.contains("alice.smith+ops@example.co.jp"));
        assert!(!out.contains("10.0.12.34"));
        // Marker text must survive its own URL-password rule.
        let url = Redactor::new(&config)
            .unwrap()
            .redact("postgres://app:Db8vhIuXDXiN8JYJ@db.internal:5432/orders");
        assert_eq!(
            url,
            "postgres://app:[REDACTED:url-password]@db.internal:5432/orders"
        );
    }

    #[test]
    fn config_defaults() {
        let config = RedactionConfig::default();
        assert!(config.extra_patterns.is_empty() && !config.mask_emails && !config.mask_ips);
        let built = Redactor::new(&config).unwrap();
        let line = format!("key={ACCESS_KEY}");
        assert_eq!(built.redact(&line), Redactor::builtin().redact(&line));
    }

    #[test]
    fn several_secrets_in_one_line() {
        let line = format!(
            "export AWS_ACCESS_KEY_ID={ACCESS_KEY} AWS_SECRET_ACCESS_KEY={SECRET_KEY} DB=postgres://app:Db8vhIuXDXiN8JYJ@db:5432/x password=Pwt7EcejZGCaa9R3 jwt {JWT}"
        );
        let out = redact(&line);
        for secret in [
            ACCESS_KEY,
            SECRET_KEY,
            "Db8vhIuXDXiN8JYJ",
            "Pwt7EcejZGCaa9R3",
            JWT,
        ] {
            assert!(!out.contains(secret), "{secret} leaked: {out}");
        }
        assert!(out.starts_with("export AWS_ACCESS_KEY_ID=[REDACTED:aws-access-key-id] "));
        assert_eq!(redact(&out), out);
    }

    #[test]
    fn never_panics_and_stays_idempotent() {
        let redactor = Redactor::new(&RedactionConfig {
            mask_emails: true,
            mask_ips: true,
            ..RedactionConfig::default()
        })
        .unwrap();
        let pieces = [
            "password=",
            "token: ",
            "Bearer ",
            "Authorization: ",
            "://",
            "@",
            ":",
            "\"",
            "'",
            "\\\"",
            "=",
            " ",
            "\n",
            "é",
            "日本語",
            "🔥",
            "👨‍👩‍👧",
            "AKIA",
            ACCESS_KEY,
            SECRET_KEY,
            JWT,
            "-----BEGIN PRIVATE KEY-----",
            "-----END PRIVATE KEY-----",
            "xoxb-",
            "ghp_",
            "[REDACTED:",
            "]",
            "10.0.0.1",
            "::",
            "abc",
            "Db8vhIuXDXiN8JYJ",
            "{",
            "}",
            "%2F",
        ];
        let mut state: u64 = 0x0123_4567_89AB_CDEF;
        for _ in 0..3000 {
            let mut text = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let parts = (state % 12) as usize;
            for _ in 0..parts {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push_str(pieces[(state % pieces.len() as u64) as usize]);
            }
            let once = redactor.redact(&text).into_owned();
            assert_eq!(redactor.redact(&once), once, "input {text:?}");
        }
    }

    #[test]
    fn very_long_and_non_ascii_lines() {
        let long = format!(
            "{} password=Pwt7EcejZGCaa9R3 {}",
            "あ".repeat(100_000),
            "🔥".repeat(50_000)
        );
        let out = redact(&long);
        assert!(!out.contains("Pwt7EcejZGCaa9R3"));
        assert!(out.contains("password=[REDACTED:password]"));
        let run = "A1/b".repeat(100_000);
        assert_eq!(redact(&run), run);
        let ja = "パスワード: 秘密です、トークン token=日本語トークン🔥 終わり";
        assert_eq!(
            redact(ja),
            "パスワード: 秘密です、トークン token=[REDACTED:secret] 終わり"
        );
    }

    #[test]
    fn config_round_trips_through_serde_attributes() {
        // deny_unknown_fields / default are exercised by the config loader; here we only
        // make sure the derive stays usable as a value type.
        let config = RedactionConfig {
            extra_patterns: vec![ExtraPattern {
                name: "x".into(),
                regex: "y".into(),
            }],
            mask_emails: true,
            mask_ips: false,
        };
        assert_eq!(config.clone(), config);
    }
}
