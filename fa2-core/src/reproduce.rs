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
                    FileFormat::CloudTrailEvents | FileFormat::XraySegments => {
                        Some("if type == \"array\" then .[] else . end".to_string())
                    }
                    FileFormat::MetricStatistics => Some(".Datapoints[]".to_string()),
                    FileFormat::AlarmHistory => Some(".AlarmHistoryItems[]".to_string()),
                    FileFormat::DescribeAlarms => {
                        Some("(.MetricAlarms // [])[], (.CompositeAlarms // [])[]".to_string())
                    }
                    FileFormat::PlainLog
                    | FileFormat::AlbAccessLog
                    | FileFormat::JsonLogs
                    | FileFormat::AccessLog
                    | FileFormat::VpcFlowLog => None,
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
                // The query fetched everything; this item is the part whose text matches.
                match service.as_str() {
                    "cloudwatch-logs-insights" if !needle.is_empty() => {
                        let _ = write!(
                            out,
                            "\nthis item: add `| filter @message like {}` to the query",
                            serde_json::to_string(needle).unwrap_or_default()
                        );
                    }
                    "cloudwatch-logs"
                        if !needle.is_empty() && !text.contains("--filter-pattern") =>
                    {
                        let _ = write!(
                            out,
                            " --filter-pattern {}",
                            shell_quote(&serde_json::to_string(needle).unwrap_or_default())
                        );
                    }
                    _ => {}
                }
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
    fn service_queries_name_the_item() {
        let insights = Locator::Query {
            service: "cloudwatch-logs-insights".into(),
            text: "fields @timestamp, @message | sort @timestamp asc | limit 10000".into(),
        };
        let c = grep_command(&[&insights], "Rate \"exceeded\"", None);
        assert!(
            c.ends_with(
                "this item: add `| filter @message like \"Rate \\\"exceeded\\\"\"` to the query"
            ),
            "{c}"
        );
        let filter = Locator::Query {
            service: "cloudwatch-logs".into(),
            text: "aws logs filter-log-events --log-group-name g".into(),
        };
        assert_eq!(
            grep_command(&[&filter], "Connect timed out", None),
            "cloudwatch-logs: aws logs filter-log-events --log-group-name g --filter-pattern '\"Connect timed out\"'"
        );
    }

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
