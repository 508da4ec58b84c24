//! `reproduce` strings: the exact command or query a person can paste to see the same
//! records again (zgrep/jq over exported files, the query text for service sources).

use crate::telemetry::{FileFormat, Locator};
use std::fmt::Write;

/// Quotes a string for POSIX shells.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,+".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Escapes a string for use inside a jq string literal.
fn jq_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{}\"", s.replace('"', "")))
}

/// A command that shows the records of `locators` containing the fixed string `needle`.
/// `needle` should be a constant fragment of the matched records (a template's longest
/// literal run), so that the command finds them and little else.
pub fn grep_command(locators: &[&Locator], needle: &str, json_field: Option<&str>) -> String {
    let mut out = String::new();
    for (i, loc) in locators.iter().enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        match loc {
            Locator::File { path, format, gzip } => {
                let p = shell_quote(&path.display().to_string());
                let cat = if *gzip { "zcat" } else { "cat" };
                let jq_filter = match format {
                    FileFormat::FilterLogEvents => Some(".events[] | .message".to_string()),
                    FileFormat::InsightsResults => Some(
                        ".results[] | map({(.field): .value}) | add | .[\"@message\"]".to_string(),
                    ),
                    FileFormat::FirehoseLogs => Some(
                        "select(.messageType == \"DATA_MESSAGE\") | .logEvents[] | .message"
                            .to_string(),
                    ),
                    FileFormat::CloudTrailRecords => Some(".Records[]".to_string()),
                    FileFormat::CloudTrailLookup => Some(".Events[]".to_string()),
                    FileFormat::XraySummaries => Some(".TraceSummaries[]".to_string()),
                    FileFormat::XrayTraces => Some(".Traces[]".to_string()),
                    FileFormat::MetricData => Some(".MetricDataResults[]".to_string()),
                    FileFormat::PlainLog | FileFormat::AlbAccessLog => None,
                };
                match jq_filter {
                    None => {
                        let tool = if *gzip { "zgrep" } else { "grep" };
                        let _ = write!(out, "{tool} -F {} {p}", shell_quote(needle));
                    }
                    Some(filter) => {
                        let sel = match json_field {
                            Some(field) => format!(
                                "{filter} | select(({field} // \"\" | tostring) | contains({}))",
                                jq_string(needle)
                            ),
                            None => format!(
                                "{filter} | select(tostring | contains({}))",
                                jq_string(needle)
                            ),
                        };
                        let _ = write!(out, "{cat} {p} | jq -c {}", shell_quote(&sel));
                    }
                }
            }
            Locator::Query { service, text } => {
                let _ = write!(out, "{service}: {text}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("a/b.log"), "a/b.log");
        assert_eq!(shell_quote("it's x"), r"'it'\''s x'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn commands_per_format() {
        let plain = Locator::File {
            path: PathBuf::from("logs/app.log.gz"),
            format: FileFormat::PlainLog,
            gzip: true,
        };
        assert_eq!(
            grep_command(&[&plain], "Connect timed out", None),
            "zgrep -F 'Connect timed out' logs/app.log.gz"
        );
        let json = Locator::File {
            path: PathBuf::from("orders.json"),
            format: FileFormat::FilterLogEvents,
            gzip: false,
        };
        let c = grep_command(&[&json], "Rate \"exceeded\"", None);
        assert!(c.starts_with("cat orders.json | jq -c '.events[] | .message | select(tostring | contains(\"Rate \\\"exceeded\\\"\"))'"), "{c}");
    }
}
