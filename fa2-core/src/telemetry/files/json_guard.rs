//! A byte filter in front of serde_json that follows JSON strings (never the structure) and
//! makes one bad value cost that value instead of the rest of the file:
//! - a string longer than the limit is cut on a character boundary and the rest of it is read
//!   past without being stored (serde_json would buffer it whole);
//! - invalid UTF-8 and broken escapes (lone surrogates, `\x`) become U+FFFD, raw control
//!   characters become escapes (serde_json would stop the file there).
//!
//! Every cut and repair is counted. Bytes outside strings pass unchanged, so syntax errors are
//! still serde_json's to report.

use super::losses::ReaderCounters;
use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

/// U+FFFD as a JSON escape: what a broken escape becomes.
const REPLACEMENT_ESCAPE: &[u8] = b"\\ufffd";
/// U+FFFD in UTF-8: what an invalid byte sequence becomes.
const REPLACEMENT_UTF8: &[u8] = "\u{fffd}".as_bytes();

/// Wraps `reader` for serde_json; the buffer in front lets serde_json read byte by byte cheaply.
pub(crate) fn guarded<R: BufRead>(
    reader: R,
    max_string_bytes: usize,
    counters: Arc<ReaderCounters>,
) -> BufReader<JsonGuard<R>> {
    BufReader::with_capacity(
        64 * 1024,
        JsonGuard {
            inner: reader,
            lexer: Lexer {
                max: max_string_bytes,
                counters,
                ..Lexer::default()
            },
            out: Vec::new(),
            pos: 0,
            finished: false,
        },
    )
}

pub(crate) struct JsonGuard<R> {
    inner: R,
    lexer: Lexer,
    /// Filtered bytes not handed out yet.
    out: Vec<u8>,
    pos: usize,
    finished: bool,
}

impl<R: BufRead> Read for JsonGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.out.len() {
            self.out.clear();
            self.pos = 0;
            let chunk = self.inner.fill_buf()?;
            let n = chunk.len();
            if n == 0 {
                if !self.finished {
                    self.finished = true;
                    self.lexer.finish(&mut self.out);
                }
                if self.out.is_empty() {
                    return Ok(0);
                }
                break;
            }
            self.lexer.feed(chunk, &mut self.out);
            self.inner.consume(n);
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Where the filter is in the text.
#[derive(Default)]
struct Lexer {
    max: usize,
    counters: Arc<ReaderCounters>,
    in_string: bool,
    /// Bytes of the current string passed on.
    len: usize,
    /// Over the limit: the rest of the string is read past.
    dropping: bool,
    drop_escape: bool,
    dropped: u64,
    /// A backslash escape being read (up to a surrogate pair: 12 bytes).
    esc: Vec<u8>,
    /// A multi-byte UTF-8 character being read.
    utf8: [u8; 4],
    utf8_have: usize,
    utf8_need: usize,
}

fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

fn hex_value(digits: &[u8]) -> u32 {
    digits
        .iter()
        .fold(0, |v, &d| v * 16 + char::from(d).to_digit(16).unwrap_or(0))
}

impl Lexer {
    fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<u8>) {
        while !chunk.is_empty() {
            if !self.in_string {
                match memchr::memchr(b'"', chunk) {
                    Some(i) => {
                        out.extend_from_slice(&chunk[..=i]);
                        self.in_string = true;
                        self.len = 0;
                        chunk = &chunk[i + 1..];
                    }
                    None => {
                        out.extend_from_slice(chunk);
                        return;
                    }
                }
                continue;
            }
            if self.dropping {
                if !self.drop_escape {
                    let skip = memchr::memchr2(b'"', b'\\', chunk).unwrap_or(chunk.len());
                    self.dropped += skip as u64;
                    chunk = &chunk[skip..];
                    if chunk.is_empty() {
                        return;
                    }
                }
            } else if self.esc.is_empty() && self.utf8_have == 0 {
                // Plain ASCII up to the limit passes in one copy.
                let room = self.max.saturating_sub(self.len).min(chunk.len());
                let run = chunk[..room]
                    .iter()
                    .position(|&b| b == b'"' || b == b'\\' || !(0x20..0x80).contains(&b))
                    .unwrap_or(room);
                if run > 0 {
                    out.extend_from_slice(&chunk[..run]);
                    self.len += run;
                    chunk = &chunk[run..];
                    continue;
                }
            }
            if let Some((&b, rest)) = chunk.split_first() {
                self.push(b, out);
                chunk = rest;
            }
        }
    }

    fn emit(&mut self, out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(bytes);
        self.len += bytes.len();
    }

    fn repaired(&mut self) {
        ReaderCounters::bump(&self.counters.repaired, 1);
    }

    /// One byte inside a string.
    fn push(&mut self, b: u8, out: &mut Vec<u8>) {
        if self.dropping {
            self.drop_byte(b, out);
            return;
        }
        if self.utf8_have > 0 {
            let lead = self.utf8[0];
            let ok = match (lead, self.utf8_have) {
                (0xe0, 1) => (0xa0..=0xbf).contains(&b),
                (0xed, 1) => (0x80..=0x9f).contains(&b),
                (0xf0, 1) => (0x90..=0xbf).contains(&b),
                (0xf4, 1) => (0x80..=0x8f).contains(&b),
                _ => (0x80..=0xbf).contains(&b),
            };
            if ok {
                self.utf8[self.utf8_have] = b;
                self.utf8_have += 1;
                if self.utf8_have == self.utf8_need {
                    let ch = self.utf8;
                    self.emit(out, &ch[..self.utf8_need]);
                    self.utf8_have = 0;
                }
                return;
            }
            // The character broke off: it becomes U+FFFD and `b` starts afresh.
            self.utf8_have = 0;
            self.repaired();
            self.emit(out, REPLACEMENT_UTF8);
        }
        if !self.esc.is_empty() {
            self.escape_byte(b, out);
            return;
        }
        if b == b'"' {
            out.push(b);
            self.in_string = false;
            return;
        }
        if self.len >= self.max {
            self.dropping = true;
            self.drop_byte(b, out);
            return;
        }
        match b {
            b'\\' => self.esc.push(b),
            0x00..=0x1f => {
                ReaderCounters::bump(&self.counters.control_chars, 1);
                let escaped = format!("\\u{b:04x}");
                self.emit(out, escaped.as_bytes());
            }
            0x20..=0x7f => self.emit(out, &[b]),
            0xc2..=0xf4 => {
                self.utf8[0] = b;
                self.utf8_have = 1;
                self.utf8_need = match b {
                    0xc2..=0xdf => 2,
                    0xe0..=0xef => 3,
                    _ => 4,
                };
            }
            _ => {
                self.repaired();
                self.emit(out, REPLACEMENT_UTF8);
            }
        }
    }

    /// One byte after a backslash (`esc` holds what was read of the escape).
    fn escape_byte(&mut self, b: u8, out: &mut Vec<u8>) {
        let n = self.esc.len();
        match n {
            1 => match b {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                    self.esc.clear();
                    self.emit(out, &[b'\\', b]);
                }
                b'u' => self.esc.push(b),
                _ => {
                    // `\x`: keep the backslash as text.
                    self.esc.clear();
                    self.repaired();
                    self.emit(out, b"\\\\");
                    self.push(b, out);
                }
            },
            2..=5 => {
                if is_hex(b) {
                    self.esc.push(b);
                    if self.esc.len() == 6 {
                        self.complete_escape(out);
                    }
                } else {
                    // `\u12`: the broken escape is kept as text.
                    let text = std::mem::take(&mut self.esc);
                    self.repaired();
                    self.emit(out, b"\\\\");
                    self.emit(out, &text[1..]);
                    self.push(b, out);
                }
            }
            // A leading surrogate waits for its trailing half.
            6 => {
                if b == b'\\' {
                    self.esc.push(b);
                } else {
                    self.lone_surrogate(out);
                    self.push(b, out);
                }
            }
            7 => {
                if b == b'u' {
                    self.esc.push(b);
                } else {
                    self.lone_surrogate(out);
                    self.esc.push(b'\\');
                    self.escape_byte(b, out);
                }
            }
            _ => {
                if is_hex(b) {
                    self.esc.push(b);
                    if self.esc.len() == 12 {
                        let trail = hex_value(&self.esc[8..12]);
                        if (0xdc00..=0xdfff).contains(&trail) {
                            let pair = std::mem::take(&mut self.esc);
                            self.emit(out, &pair);
                        } else {
                            let second = self.esc.split_off(6);
                            self.lone_surrogate(out);
                            self.esc = second;
                            self.complete_escape(out);
                        }
                    }
                } else {
                    let second = self.esc.split_off(6);
                    self.lone_surrogate(out);
                    self.esc = second;
                    self.escape_byte(b, out);
                }
            }
        }
    }

    /// `esc` holds a whole `\uXXXX`.
    fn complete_escape(&mut self, out: &mut Vec<u8>) {
        let v = hex_value(&self.esc[2..6]);
        if (0xd800..=0xdbff).contains(&v) {
            return;
        }
        let esc = std::mem::take(&mut self.esc);
        if (0xdc00..=0xdfff).contains(&v) {
            self.repaired();
            self.emit(out, REPLACEMENT_ESCAPE);
        } else {
            self.emit(out, &esc);
        }
    }

    /// The leading surrogate in `esc[..6]` has no trailing half.
    fn lone_surrogate(&mut self, out: &mut Vec<u8>) {
        self.esc.clear();
        self.repaired();
        self.emit(out, REPLACEMENT_ESCAPE);
    }

    fn drop_byte(&mut self, b: u8, out: &mut Vec<u8>) {
        if self.drop_escape {
            self.drop_escape = false;
            self.dropped += 1;
            return;
        }
        match b {
            b'\\' => {
                self.drop_escape = true;
                self.dropped += 1;
            }
            b'"' => {
                out.push(b);
                self.in_string = false;
                self.dropping = false;
                ReaderCounters::bump(&self.counters.long_strings, 1);
                ReaderCounters::bump(&self.counters.long_string_bytes, self.dropped);
                self.dropped = 0;
            }
            _ => self.dropped += 1,
        }
    }

    /// The input ended: what is held goes out as it was (serde_json reports the cut).
    fn finish(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.esc);
        self.esc.clear();
        out.extend_from_slice(&self.utf8[..self.utf8_have]);
        self.utf8_have = 0;
        if self.dropping && self.dropped > 0 {
            ReaderCounters::bump(&self.counters.long_strings, 1);
            ReaderCounters::bump(&self.counters.long_string_bytes, self.dropped);
            self.dropped = 0;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    /// Filters `input` (fed in pieces of `step` bytes) and returns the output and counters.
    fn filter(input: &[u8], max: usize, step: usize) -> (Vec<u8>, Arc<ReaderCounters>) {
        let counters = Arc::new(ReaderCounters::default());
        let reader = std::io::BufReader::with_capacity(step, input);
        let mut g = guarded(reader, max, counters.clone());
        let mut out = Vec::new();
        g.read_to_end(&mut out).unwrap();
        (out, counters)
    }

    fn value(input: &[u8], max: usize) -> (serde_json::Value, Arc<ReaderCounters>) {
        for step in [1, 3, 7, 4096] {
            let (a, _) = filter(input, max, step);
            let (b, _) = filter(input, max, 4096);
            assert_eq!(a, b, "step {step}");
        }
        let (out, c) = filter(input, max, 5);
        let v = serde_json::from_slice(&out)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out)));
        (v, c)
    }

    fn load(c: &std::sync::atomic::AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    #[test]
    fn valid_json_passes_unchanged() {
        let text = r#"{"a": "x\"y\\z\/\b\f\n\r\t\u00e9\ud83d\ude00 日本 😀", "b": [1, 2.5e3, null, true], "c": {"d": ""}}"#;
        let (out, c) = filter(text.as_bytes(), 1 << 20, 7);
        assert_eq!(out, text.as_bytes());
        assert_eq!(load(&c.repaired) + load(&c.control_chars), 0);
    }

    #[test]
    fn invalid_utf8_becomes_replacement_and_is_counted() {
        let mut input = br#"{"m": "ok "#.to_vec();
        input.extend_from_slice(b"\xff bad \xe6\x97 cut \xed\xa0\x80 surrogate");
        input.extend_from_slice(br#"", "n": "fine"}"#);
        let (v, c) = value(&input, 1 << 20);
        assert_eq!(
            v["m"],
            "ok \u{fffd} bad \u{fffd} cut \u{fffd}\u{fffd}\u{fffd} surrogate"
        );
        assert_eq!(v["n"], "fine");
        assert_eq!(load(&c.repaired), 5);
    }

    #[test]
    fn broken_escapes_are_repaired() {
        let input = br#"["\ud800", "\ud800x", "\udc00", "\ud800\u0041", "\ud800\n", "\x", "\u12G", "\ud800\ud800\udc00"]"#;
        let (v, c) = value(input, 1 << 20);
        assert_eq!(
            v,
            serde_json::json!([
                "\u{fffd}",
                "\u{fffd}x",
                "\u{fffd}",
                "\u{fffd}A",
                "\u{fffd}\n",
                "\\x",
                "\\u12G",
                "\u{fffd}\u{10000}"
            ])
        );
        assert_eq!(load(&c.repaired), 8);
    }

    #[test]
    fn raw_control_characters_are_escaped() {
        let (v, c) = value(b"{\"m\": \"a\tb\nc\x00\"}", 1 << 20);
        assert_eq!(v["m"], "a\tb\nc\u{0}");
        assert_eq!(load(&c.control_chars), 3);
    }

    #[test]
    fn long_strings_are_cut_and_counted() {
        let long = "é".repeat(5000);
        let input = format!(
            r#"{{"a": "{long}", "b": "{}\"\\{}", "c": "short"}}"#,
            "x".repeat(50),
            "y".repeat(50)
        );
        let (v, c) = value(input.as_bytes(), 101);
        let a = v["a"].as_str().unwrap();
        assert!(a.len() <= 102 && a.len() >= 100, "{}", a.len());
        assert!(a.chars().all(|ch| ch == 'é'));
        // 101 bytes as written: 50 x, two 2-byte escapes, 47 y
        assert_eq!(v["b"].as_str().unwrap().len(), 99);
        assert_eq!(v["c"], "short");
        assert_eq!(load(&c.long_strings), 2);
        assert_eq!(load(&c.long_string_bytes), (10_000 - 102) + 3);
    }

    #[test]
    fn truncated_input_stays_an_eof_error() {
        let (out, _) = filter(br#"{"a": "abc\u12"#, 1 << 20, 3);
        let e = serde_json::from_slice::<serde_json::Value>(&out).unwrap_err();
        assert!(e.is_eof(), "{e}");
    }
}
