//! The structured answer every model backend must produce: its JSON schema (for tool use and
//! JSON-schema response formats) and a lenient parser for models that answer in text.

use super::{Analysis, Confidence, Hypothesis, TimelineEntry};
use crate::error::LlmError;
use serde_json::{Value, json};

/// Name of the forced tool / response format.
pub const ANSWER_NAME: &str = "report_root_cause";

/// JSON schema of [`Analysis`] as models must return it.
pub fn analysis_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "summary": {"type": "string", "description": "2-4 sentences: what happened and the most likely cause, citing evidence ids like [E1]"},
            "impact": {"type": "string", "description": "who or what was affected, with numbers"},
            "hypotheses": {
                "type": "array",
                "description": "root-cause hypotheses, most likely first",
                "items": {
                    "type": "object",
                    "properties": {
                        "title": {"type": "string"},
                        "confidence": {"type": "string", "enum": ["high", "medium", "low"]},
                        "evidence": {"type": "array", "items": {"type": "string", "pattern": "^E[0-9]+$"}},
                        "explanation": {"type": "string"}
                    },
                    "required": ["title", "confidence", "evidence", "explanation"],
                    "additionalProperties": false
                }
            },
            "timeline": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "time": {"type": "string", "description": "RFC 3339"},
                        "event": {"type": "string"},
                        "evidence": {"type": "array", "items": {"type": "string"}}
                    },
                    "required": ["time", "event", "evidence"],
                    "additionalProperties": false
                }
            },
            "actions": {"type": "array", "items": {"type": "string"}},
            "prevention": {"type": "array", "items": {"type": "string"}}
        },
        "required": ["summary", "impact", "hypotheses", "timeline", "actions", "prevention"],
        "additionalProperties": false
    })
}

fn text_of(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn list_of(v: &Value, key: &str) -> Vec<String> {
    match v.get(key) {
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn confidence(s: &str) -> Confidence {
    match s.trim().to_ascii_lowercase().as_str() {
        "high" | "高" => Confidence::High,
        "medium" | "med" | "中" => Confidence::Medium,
        _ => Confidence::Low,
    }
}

/// Maps a JSON answer (tool input or parsed text) to an [`Analysis`], leniently: missing
/// fields are empty, unknown confidences are `low`, ids are normalised (`[E3]` → `E3`).
pub fn analysis_from_value(v: &Value) -> Result<Analysis, LlmError> {
    if !v.is_object() {
        return Err(LlmError::Parse("the answer is not a JSON object".into()));
    }
    let ids = |x: &Value, key: &str| -> Vec<String> {
        list_of(x, key)
            .into_iter()
            .map(|s| s.trim().trim_matches(['[', ']']).to_string())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let hypotheses = match v.get("hypotheses") {
        Some(Value::Array(hs)) => hs
            .iter()
            .map(|h| Hypothesis {
                title: text_of(h, "title"),
                confidence: confidence(&text_of(h, "confidence")),
                evidence: ids(h, "evidence"),
                explanation: text_of(h, "explanation"),
            })
            .collect(),
        _ => Vec::new(),
    };
    let timeline = match v.get("timeline") {
        Some(Value::Array(ts)) => ts
            .iter()
            .map(|t| TimelineEntry {
                time: crate::time::parse_timestamp(&text_of(t, "time")),
                event: text_of(t, "event"),
                evidence: ids(t, "evidence"),
            })
            .collect(),
        _ => Vec::new(),
    };
    let a = Analysis {
        summary: text_of(v, "summary"),
        impact: text_of(v, "impact"),
        hypotheses,
        timeline,
        actions: list_of(v, "actions"),
        prevention: list_of(v, "prevention"),
    };
    if a.summary.is_empty() && a.hypotheses.is_empty() {
        return Err(LlmError::Parse(
            "the answer has neither a summary nor hypotheses".into(),
        ));
    }
    Ok(a)
}

/// Parses a text answer: the first balanced JSON object in it (inside ```json fences or
/// not). A model that ignored the format entirely still yields an analysis whose summary is
/// its text, so nothing it said is lost.
pub fn parse_analysis(text: &str) -> Result<Analysis, LlmError> {
    let bytes = text.as_bytes();
    let mut start = 0;
    while let Some(off) = text[start..].find('{') {
        let open = start + off;
        let mut depth = 0i32;
        let mut in_str = false;
        let mut escaped = false;
        for (i, &b) in bytes.iter().enumerate().skip(open) {
            if in_str {
                match b {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => in_str = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_str = true,
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        if let Ok(v) = serde_json::from_str::<Value>(&text[open..=i])
                            && let Ok(a) = analysis_from_value(&v)
                        {
                            return Ok(a);
                        }
                        break;
                    }
                }
                _ => {}
            }
        }
        start = open + 1;
    }
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(LlmError::Parse("the model returned an empty answer".into()));
    }
    Ok(Analysis {
        summary: trimmed.to_string(),
        ..Analysis::default()
    })
}

/// Closes a JSON object that was cut off: tries the text closed as it stands, then cut back
/// to each earlier value boundary, and keeps the longest prefix that yields an analysis.
/// Cuts are made only between top-level fields or array elements, so a half-written
/// hypothesis is dropped rather than kept with a made-up confidence.
pub fn repair_truncated(text: &str) -> Option<Analysis> {
    let s = &text[text.find('{')?..];
    let mut stack: Vec<u8> = Vec::new();
    let mut in_str = false;
    let mut escaped = false;
    // (end of a prefix that ends on a value boundary, closers needed after it)
    let mut cuts: Vec<(usize, Vec<u8>)> = Vec::new();
    for (i, b) in s.bytes().enumerate() {
        if in_str {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => {
                    in_str = false;
                    if clean_cut(&stack) {
                        cuts.push((i + 1, stack.clone()));
                    }
                }
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' => stack.push(b'}'),
            b'[' => stack.push(b']'),
            b'}' | b']' => {
                stack.pop();
                if stack.is_empty() {
                    // A complete object: parse_analysis already judged it.
                    return None;
                }
                if clean_cut(&stack) {
                    cuts.push((i + 1, stack.clone()));
                }
            }
            b',' if clean_cut(&stack) => cuts.push((i, stack.clone())),
            _ => {}
        }
    }
    let close = |prefix: &str, stack: &[u8]| -> String {
        let mut out = prefix.trim_end().trim_end_matches(',').to_string();
        out.extend(stack.iter().rev().map(|&c| c as char));
        out
    };
    let try_parse = |candidate: &str| -> Option<Analysis> {
        serde_json::from_str::<Value>(candidate)
            .ok()
            .and_then(|v| analysis_from_value(&v).ok())
    };
    if in_str && clean_cut(&stack) {
        // Cut inside a string, most often the long summary: keep its start.
        let mut body = s.to_string();
        if escaped {
            body.pop();
        }
        body.push('"');
        if let Some(a) = try_parse(&close(&body, &stack)) {
            return Some(a);
        }
    }
    cuts.iter()
        .rev()
        .take(64)
        .find_map(|(end, stack)| try_parse(&close(&s[..*end], stack)))
}

/// Whether a prefix whose open containers are `stack` ends between top-level fields or
/// array elements, with no object open but the root.
fn clean_cut(stack: &[u8]) -> bool {
    !stack.is_empty() && stack[1..].iter().all(|&c| c == b']')
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_fenced_json_with_noise_around() {
        let text = "Here is my analysis:\n```json\n{\"summary\": \"Throttling after [E2] {x}\", \"impact\": \"5xx\", \"hypotheses\": [{\"title\": \"UpdateTable\", \"confidence\": \"High\", \"evidence\": [\"[E2]\", \"E1\"], \"explanation\": \"...\"}], \"timeline\": [{\"time\": \"2024-08-16T11:19:29Z\", \"event\": \"change\", \"evidence\": [\"E2\"]}], \"actions\": [\"revert\"], \"prevention\": \"review changes\"}\n```\nThanks";
        let a = parse_analysis(text).unwrap();
        assert_eq!(a.hypotheses[0].confidence, Confidence::High);
        assert_eq!(a.hypotheses[0].evidence, vec!["E2", "E1"]);
        assert!(a.timeline[0].time.is_some());
        assert_eq!(a.prevention, vec!["review changes"]);
        assert!(a.summary.contains("{x}"));
    }

    #[test]
    fn plain_text_answers_are_kept_as_the_summary() {
        let a =
            parse_analysis("The table was throttled because its capacity was cut [E2].").unwrap();
        assert!(a.hypotheses.is_empty());
        assert!(a.summary.starts_with("The table"));
        assert!(parse_analysis("  ").is_err());
        assert!(analysis_from_value(&json!([1])).is_err());
    }

    #[test]
    fn schema_requires_every_field() {
        let s = analysis_schema();
        assert_eq!(s["required"].as_array().unwrap().len(), 6);
        assert_eq!(
            s["properties"]["hypotheses"]["items"]["properties"]["confidence"]["enum"][0],
            "high"
        );
    }
}
