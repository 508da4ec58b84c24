//! Slack `mrkdwn` text from untrusted strings: escaping (`&`, `<`, `>`, so log lines and model
//! output can never ping `@channel`, mention people or forge links) and splitting long text at
//! line boundaries to fit Block Kit's per-field limits.

/// Escapes the three characters Slack treats as control in `mrkdwn`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

/// Text inside a code span or block: escaped, with backticks made harmless.
pub fn code(s: &str) -> String {
    escape(s).replace("```", "ˋˋˋ")
}

/// At most `max` characters (not bytes), with an ellipsis when cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// Splits `text` into pieces of at most `max` characters, preferring line boundaries; a
/// single line longer than `max` is cut between characters.
pub fn split(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut cur_len = 0usize;
    for line in text.split_inclusive('\n') {
        let len = line.chars().count();
        if cur_len + len > max && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
            cur_len = 0;
        }
        if len > max {
            let mut chars = line.chars().peekable();
            while chars.peek().is_some() {
                let piece: String = chars.by_ref().take(max).collect();
                out.push(piece);
            }
            continue;
        }
        cur.push_str(line);
        cur_len += len;
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out.into_iter()
        .map(|p| p.trim_end_matches('\n').to_string())
        .filter(|p| !p.trim().is_empty())
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn escapes_mentions_and_links() {
        assert_eq!(
            escape("<!channel> <@U1> <http://x|y> a&b"),
            "&lt;!channel&gt; &lt;@U1&gt; &lt;http://x|y&gt; a&amp;b"
        );
        assert_eq!(code("a```b"), "aˋˋˋb");
    }

    #[test]
    fn split_respects_limit_and_lines() {
        let text = "aaaa\nbbbb\ncccc\n";
        assert_eq!(split(text, 10), vec!["aaaa\nbbbb", "cccc"]);
        let long = "x".repeat(25);
        let parts = split(&long, 10);
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.chars().count() <= 10));
        let ja = "障害".repeat(2000);
        assert!(split(&ja, 3000).iter().all(|p| p.chars().count() <= 3000));
        assert_eq!(clip("abcdef", 4), "abc…");
    }
}
