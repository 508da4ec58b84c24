//! Tokenizer and built-in variable masks.
//!
//! A message is split on ASCII whitespace; each token is rewritten into a *masked* form in
//! which variable parts become `<*>`. Everything is hand-rolled byte classification (no regex)
//! because it runs on every byte of every line. The masks are generic, not per dataset:
//!
//! * whole tokens that look numeric: integers, decimals, hex (`0x..`, long hex runs), UUIDs,
//!   IPv4/IPv6 with optional `:port`, MACs, dates, times and ISO timestamps, numbers with a
//!   short unit suffix (`12ms`, `5GB`);
//! * paths (`/a/b`, `C:\x`) and URLs (`scheme://...`);
//! * the value of `key=value` and of JSON `"key":value`, and the token after a `key:` or a
//!   JSON `"key":` token when that token carries digits or quotes;
//! * inside other tokens, digit runs delimited by punctuation (`blk_-123` -> `blk_-<*>`),
//!   long digit runs glued to letters (`steps1514038530000` -> `steps<*>`), with adjacent
//!   wildcards collapsed (`app_1_02_3` -> `app_<*>`), so that list lengths do not matter.
//!
//! * month/weekday names that start a date (`Fri Jul 22 ...`), and any token longer than
//!   [`MAX_TOKEN_BYTES`] (a data blob);
//! * runs of whole-variable tokens (`1 2 3`, `an142 an143`, `blk_1 blk_2`) and a unit after a
//!   number (`5.2 KB`) fold into one `<*>` token, so list lengths and units do not split
//!   templates.
//!
//! Surrounding brackets, quotes and trailing punctuation are kept so that `(HWID=1973)`
//! becomes `(HWID=<*>)`. Tokens that contain digits but match no mask (`dn228`, `R02-M1`) are
//! kept verbatim but flagged so that the miner treats them as likely variables.

use crate::hash::hash_bytes;

/// The wildcard written into templates in place of variable text.
pub const WILDCARD: &str = "<*>";

/// What the masker concluded about one token; drives routing and similarity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Letters/punctuation only: most likely part of the constant template text.
    Const,
    /// Contains digits that no mask claimed (`dn228`, `R02-M1`): probably variable.
    Digity,
    /// At least one mask fired; the masked text contains `<*>`.
    Masked,
}

/// One token of the current line: spans into the raw line and into the masked buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Token {
    pub raw: (usize, usize),
    pub masked: (usize, usize),
    pub hash: u64,
    pub kind: Kind,
    /// The whole token is one variable (optionally wrapped in punctuation), as opposed to
    /// text with a constant skeleton such as `blk_<*>` or `word`.
    pub var: bool,
    /// For `var` tokens, byte lengths of the surrounding punctuation in the masked text.
    frame: (usize, usize),
}

/// Reusable tokenizer state: holding the buffers here keeps per-line allocation at zero.
#[derive(Debug, Default)]
pub(crate) struct Tokenizer {
    pub masked: String,
    pub tokens: Vec<Token>,
}

#[inline]
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

/// Bytes >= 0x80 are parts of UTF-8 letters: treating them as word bytes keeps slices on
/// char boundaries because every split point is an ASCII byte.
#[inline]
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

#[inline]
fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

/// Masked tokens longer than this become a single wildcard.
pub const MAX_TOKEN_BYTES: usize = 256;

/// Bytes that may make a mask fire; a token without any of them is copied verbatim.
const NEEDS_MASKING: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = b'0';
    while c <= b'9' {
        t[c as usize] = true;
        c += 1;
    }
    t[b'=' as usize] = true;
    t[b'/' as usize] = true;
    t[b'\\' as usize] = true;
    t[b'"' as usize] = true;
    t
};

/// [`BYTE_CLASS`] bits.
const SPACE: u8 = 1;
const MASKABLE: u8 = 2;

/// Whitespace and [`NEEDS_MASKING`] bytes in one table, so that finding the end of a token
/// and learning whether any mask can fire on it is a single pass.
const BYTE_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        if NEEDS_MASKING[i] {
            t[i] |= MASKABLE;
        }
        if matches!(i as u8, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c') {
            t[i] |= SPACE;
        }
        i += 1;
    }
    t
};

/// Punctuation that may open (`OPENER`) or close (`CLOSER`) a token around its core, as
/// [`BYTE_CLASS`]-style bits: a table lookup per byte instead of a `memchr` call.
const OPENER: u8 = 1;
const CLOSER: u8 = 2;
const FRAME_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let openers = b"([{<\"'`";
    let closers = b")]}>\"'`,;:.!?";
    let mut i = 0;
    while i < openers.len() {
        t[openers[i] as usize] |= OPENER;
        i += 1;
    }
    i = 0;
    while i < closers.len() {
        t[closers[i] as usize] |= CLOSER;
        i += 1;
    }
    t
};

#[inline]
fn is_opener(b: u8) -> bool {
    FRAME_CLASS[usize::from(b)] & OPENER != 0
}

#[inline]
fn is_closer(b: u8) -> bool {
    FRAME_CLASS[usize::from(b)] & CLOSER != 0
}

impl Tokenizer {
    /// Empties the buffers, keeping their capacity.
    pub(crate) fn clear(&mut self) {
        self.masked.clear();
        self.tokens.clear();
    }

    /// Tokenizes and masks `line` into emptied buffers; see [`Tokenizer::append`].
    #[cfg(test)]
    pub(crate) fn run(&mut self, line: &str, max_tokens: usize) {
        self.clear();
        self.append(line, max_tokens);
    }

    /// Tokenizes and masks `line`, appending its masked text and tokens after those already
    /// buffered (earlier lines are never touched) and keeping at most `max_tokens` tokens (the
    /// last one then absorbs the rest of the line as a wildcard so that long lines stay
    /// bounded). Token `raw` spans are relative to `line`, `masked` spans index the whole
    /// buffer. Returns the index of the line's first token in `tokens`.
    pub(crate) fn append(&mut self, line: &str, max_tokens: usize) -> usize {
        let first = self.tokens.len();
        let bytes = line.as_bytes();
        let max_tokens = max_tokens.max(1);
        let mut i = 0;
        let mut prev_is_key = false;
        while i < bytes.len() {
            while i < bytes.len() && is_space(bytes[i]) {
                i += 1;
            }
            if i >= bytes.len() {
                break;
            }
            let start = i;
            let mut seen = 0u8;
            while i < bytes.len() {
                let c = BYTE_CLASS[usize::from(bytes[i])];
                if c & SPACE != 0 {
                    break;
                }
                seen |= c;
                i += 1;
            }
            let mstart = self.masked.len();
            let (raw_end, kind) = if self.tokens.len() - first + 1 == max_tokens && i < bytes.len()
            {
                self.masked.push_str(WILDCARD);
                (bytes.len(), Kind::Masked)
            } else {
                let tok = &line[start..i];
                let tb = tok.as_bytes();
                let plain = seen & MASKABLE == 0;
                let date = plain && is_date_word(tb, &bytes[i..]);
                let kind = if plain && !date && !(prev_is_key && tb[0] == b'"') {
                    // Fast path: no digit, `=`, slash or quote, so no mask can fire.
                    self.masked.push_str(tok);
                    Kind::Const
                } else if date || (prev_is_key && value_after_key(tb)) {
                    push_wrapped_wildcard(tok, &mut self.masked);
                    Kind::Masked
                } else {
                    mask_token(tok, &mut self.masked)
                };
                prev_is_key = is_key_token(tok.as_bytes());
                (i, kind)
            };
            let kind = if self.masked.len() - mstart > MAX_TOKEN_BYTES {
                // A token this long is a data blob; storing it in a template would let one line
                // cost unbounded template memory.
                self.masked.truncate(mstart);
                self.masked.push_str(WILDCARD);
                Kind::Masked
            } else {
                kind
            };
            if self.merge_into_previous(first, line, start, raw_end, mstart, kind) {
                if raw_end == bytes.len() {
                    break;
                }
                continue;
            }
            let mend = self.masked.len();
            let masked = &self.masked[mstart..mend];
            let frame = frame(masked, &line[start..raw_end], kind);
            self.tokens.push(Token {
                raw: (start, raw_end),
                masked: (mstart, mend),
                hash: hash_bytes(masked.as_bytes()),
                kind,
                var: frame.is_some(),
                frame: frame.unwrap_or((0, 0)),
            });
            if raw_end == bytes.len() {
                break;
            }
        }
        first
    }

    /// Folds the token just masked at `mstart..` into the previous token when both are
    /// whole variables of a list (`blk_1 blk_2`, `an1 an2 an3`, `1 2 3`) or the new one is the
    /// unit of a number (`5.2 KB`), so that list lengths and units do not split templates.
    fn merge_into_previous(
        &mut self,
        first: usize,
        line: &str,
        start: usize,
        end: usize,
        mstart: usize,
        kind: Kind,
    ) -> bool {
        // Only tokens of the current line (from `first` on) may absorb this one.
        let Some(prev) = self.tokens.get(first..).and_then(<[Token]>::last).copied() else {
            return false;
        };
        // The common case, a word after a word or a partial mask: nothing can merge.
        if kind == Kind::Const && !prev.var {
            return false;
        }
        let cur_masked = &self.masked[mstart..];
        let prev_masked = &self.masked[prev.masked.0..prev.masked.1];
        let raw = &line[start..end];
        let prev_frame = prev.var.then_some(prev.frame);
        let cur_frame = frame(cur_masked, raw, kind);
        // Merged token = previous opening punctuation + `<*>` + current closing punctuation;
        // closing punctuation is identical in raw and masked text, so it is taken from `line`.
        let merged: Option<(usize, &str)> = match (prev_frame, cur_frame) {
            (Some((ppre, ppost)), Some((0, cpost))) => {
                let prev_post = &prev_masked[prev_masked.len() - ppost..];
                (prev_post.is_empty() || prev_post == ",").then(|| {
                    (
                        ppre,
                        raw.get(raw.len().saturating_sub(cpost)..).unwrap_or(""),
                    )
                })
            }
            (Some((ppre, 0)), None) if prev.kind == Kind::Masked => {
                let (s, e) = core_bounds(raw.as_bytes());
                (s == 0 && is_unit(&raw.as_bytes()[..e])).then(|| (ppre, &raw[e..]))
            }
            _ => None,
        };
        match merged {
            Some((pre, post)) => {
                self.masked.truncate(prev.masked.0 + pre);
                self.masked.push_str(WILDCARD);
                self.masked.push_str(post);
            }
            // Repeated partially-masked token (`blk_<*> blk_<*>`): keep one copy.
            None if cur_masked == prev_masked && find_wild(cur_masked.as_bytes()).is_some() => {
                self.masked.truncate(mstart)
            }
            None => return false,
        }
        let mend = self.masked.len();
        if let Some(last) = self.tokens.last_mut() {
            last.raw.1 = end;
            last.masked.1 = mend;
            last.hash = hash_bytes(&self.masked.as_bytes()[last.masked.0..mend]);
            last.kind = Kind::Masked;
            let f = frame(&self.masked[last.masked.0..mend], "", Kind::Masked);
            last.var = f.is_some();
            last.frame = f.unwrap_or((0, 0));
        }
        true
    }

    #[cfg(test)]
    pub(crate) fn masked_token(&self, t: &Token) -> &str {
        self.masked.get(t.masked.0..t.masked.1).unwrap_or("")
    }
}

/// For a token that is one whole variable, the byte lengths of its opening and closing
/// punctuation (`(<*>),` -> (1, 2)); `None` for constant or partially variable tokens.
fn frame(masked: &str, raw: &str, kind: Kind) -> Option<(usize, usize)> {
    match kind {
        Kind::Const => None,
        Kind::Digity => {
            let (s, e) = core_bounds(raw.as_bytes());
            Some((s, raw.len() - e))
        }
        Kind::Masked => is_var_frame(masked),
    }
}

/// Offset of the first `<*>`; searches for the rare `*` byte first.
pub(crate) fn find_wild(b: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(off) = b[from..].iter().position(|&c| c == b'*') {
        let star = from + off;
        if star > 0 && b[star - 1] == b'<' && b.get(star + 1) == Some(&b'>') {
            return Some(star - 1);
        }
        from = star + 1;
    }
    None
}

fn is_var_frame(masked: &str) -> Option<(usize, usize)> {
    let p = find_wild(masked.as_bytes())?;
    let after = p + WILDCARD.len();
    let b = masked.as_bytes();
    (b[..p].iter().all(|&c| is_opener(c)) && b[after..].iter().all(|&c| is_closer(c)))
        .then_some((p, masked.len() - after))
}

/// Month and weekday names directly followed by a number or another such name
/// (`Jul 22`, `Fri Jul 22`) are part of a date; elsewhere (`May I`) they stay words.
fn is_date_word(tok: &[u8], rest: &[u8]) -> bool {
    if tok.len() < 3 || tok.len() > 12 || !is_date_name(tok) {
        return false;
    }
    let next = rest
        .iter()
        .position(|&b| !is_space(b))
        .map_or(&rest[rest.len()..], |p| &rest[p..]);
    let next_end = next.iter().position(|&b| is_space(b)).unwrap_or(next.len());
    let next = &next[..next_end];
    next.first().is_some_and(u8::is_ascii_digit) || is_date_name(next)
}

fn is_date_name(tok: &[u8]) -> bool {
    const SHORT: [&[u8; 3]; 19] = [
        b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
        b"dec", b"mon", b"tue", b"wed", b"thu", b"fri", b"sat", b"sun",
    ];
    const LONG: &[&[u8]] = &[
        b"sept",
        b"january",
        b"february",
        b"march",
        b"april",
        b"june",
        b"july",
        b"august",
        b"september",
        b"october",
        b"november",
        b"december",
        b"monday",
        b"tuesday",
        b"wednesday",
        b"thursday",
        b"friday",
        b"saturday",
        b"sunday",
    ];
    let (s, e) = core_bounds(tok);
    let core = &tok[s..e];
    if core.len() < 3 || core.len() > 9 {
        return false;
    }
    let p = [
        core[0].to_ascii_lowercase(),
        core[1].to_ascii_lowercase(),
        core[2].to_ascii_lowercase(),
    ];
    // Cheap first-letter filter before the table scan: most words start elsewhere.
    if !matches!(
        p[0],
        b'j' | b'f' | b'm' | b'a' | b's' | b'o' | b'n' | b'd' | b't' | b'w'
    ) || !SHORT.iter().any(|n| **n == p)
    {
        return false;
    }
    core.len() == 3 || LONG.iter().any(|n| n.eq_ignore_ascii_case(core))
}

/// Units that commonly follow a number as a separate token (`5.2 KB`, `30 seconds`).
fn is_unit(core: &[u8]) -> bool {
    const UNITS: &[&[u8]] = &[
        b"b", b"kb", b"mb", b"gb", b"tb", b"pb", b"kib", b"mib", b"gib", b"tib", b"byte", b"bytes",
        b"ns", b"us", b"ms", b"s", b"sec", b"secs", b"second", b"seconds", b"min", b"mins",
        b"minute", b"minutes", b"h", b"hours", b"%", b"kbps", b"mbps", b"gbps",
    ];
    core.len() <= 7 && UNITS.iter().any(|u| u.eq_ignore_ascii_case(core))
}

/// `key:` / `"key":` tokens announce a value in the next token.
fn is_key_token(t: &[u8]) -> bool {
    t.len() >= 2 && t[t.len() - 1] == b':' && t[..t.len() - 1].iter().any(|&b| is_word(b))
}

/// A token after `key:` is masked when it is quoted or carries digits; bare words after a
/// colon are usually constant (`action: SCREEN_ON`) and are left to the similarity step.
fn value_after_key(t: &[u8]) -> bool {
    t.first() == Some(&b'"') || t.iter().any(u8::is_ascii_digit)
}

fn push_wrapped_wildcard(tok: &str, out: &mut String) {
    let (s, e) = core_bounds(tok.as_bytes());
    out.push_str(&tok[..s]);
    out.push_str(WILDCARD);
    out.push_str(&tok[e..]);
}

/// Strips opening brackets/quotes and closing brackets/quotes/punctuation around a token.
fn core_bounds(b: &[u8]) -> (usize, usize) {
    let mut s = 0;
    let mut e = b.len();
    while s < e && is_opener(b[s]) {
        s += 1;
    }
    while e > s && is_closer(b[e - 1]) {
        e -= 1;
    }
    (s, e)
}

/// Masks one whitespace-delimited token into `out` and reports what happened.
pub(crate) fn mask_token(tok: &str, out: &mut String) -> Kind {
    let b = tok.as_bytes();
    let (s, e) = core_bounds(b);
    let before = out.len();
    out.push_str(&tok[..s]);
    let core = &tok[s..e];
    if is_variable(core.as_bytes()) {
        out.push_str(WILDCARD);
    } else {
        mask_inner(core, out);
    }
    out.push_str(&tok[e..]);
    if find_wild(&out.as_bytes()[before..]).is_some() {
        Kind::Masked
    } else if b.iter().any(u8::is_ascii_digit) {
        Kind::Digity
    } else {
        Kind::Const
    }
}

/// True when the whole token is a variable on its own (number, id, address, path, time...).
pub(crate) fn is_variable(c: &[u8]) -> bool {
    if c.is_empty() {
        return false;
    }
    if is_url(c) || is_path(c) || is_host_port(c) {
        return true;
    }
    if c.len() > 2
        && c[0] == b'0'
        && (c[1] == b'x' || c[1] == b'X')
        && c[2..].iter().all(|&b| is_hex(b))
    {
        return true;
    }
    is_numeric_like(c)
}

/// `scheme://...` with an RFC 3986 scheme (`https`, `s3`, `svn+ssh`).
fn is_url(c: &[u8]) -> bool {
    // A scheme holds no `:`, so `://` can only follow the first colon.
    let Some(p) = c.iter().position(|&b| b == b':') else {
        return false;
    };
    c.get(p + 1..p + 3) == Some(b"//".as_slice())
        && p > 0
        && c[0].is_ascii_alphabetic()
        && c[..p]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// `name.domain:port` (an endpoint): dotted labels of letters, digits and `-`, then `:` and a
/// port number. The host part varies like an address does; without the port a dotted name is
/// as likely a constant (a logger or class name), so it stays a word.
fn is_host_port(c: &[u8]) -> bool {
    let Some(colon) = c.iter().rposition(|&b| b == b':') else {
        return false;
    };
    let (host, port) = (&c[..colon], &c[colon + 1..]);
    !port.is_empty()
        && port.len() <= 5
        && port.iter().all(u8::is_ascii_digit)
        && host.split(|&b| b == b'.').count() >= 2
        && host
            .split(|&b| b == b'.')
            .all(|l| !l.is_empty() && l.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// `/a/b`, `./a`, `~/a`, `C:\a`. A lone `/word` counts too since it is usually a resource.
fn is_path(c: &[u8]) -> bool {
    let unix = (c[0] == b'/' && c.len() > 1 && c[1] != b'/')
        || c.starts_with(b"./")
        || c.starts_with(b"../")
        || c.starts_with(b"~/");
    let windows = c.len() > 2 && c[0].is_ascii_alphabetic() && c[1] == b':' && c[2] == b'\\';
    unix || windows
}

/// Numbers, hex ids, UUIDs, IPs, MACs, dates, times: only hex digits and separators, with at
/// least one decimal digit. A trailing unit (`ms`, `KB`, `%`) and ISO `T`/`Z` are allowed.
fn is_numeric_like(c: &[u8]) -> bool {
    let mut c = c;
    if let Some((b'-' | b'+', rest)) = c.split_first() {
        c = rest;
    }
    // Unit suffix: up to 4 letters (or `%`) after a digit.
    let mut end = c.len();
    while end > 0 && (c[end - 1].is_ascii_alphabetic() || c[end - 1] == b'%') {
        end -= 1;
    }
    if end < c.len() && c.len() - end <= 4 && end > 0 && c[end - 1].is_ascii_digit() {
        c = &c[..end];
    }
    if c.is_empty() || !c[0].is_ascii_hexdigit() {
        return false;
    }
    let mut digits = 0usize;
    // Per alphanumeric run: hex letters without a digit are only accepted in long runs, so
    // `dcbf.0` or `add-1` stay words while `e89b-12d3` and `deadbeef01` are ids.
    let mut run_len = 0usize;
    let mut run_digit = false;
    let mut run_letter = false;
    for (i, &b) in c.iter().enumerate() {
        if is_hex(b) {
            run_len += 1;
            if b.is_ascii_digit() {
                digits += 1;
                run_digit = true;
            } else {
                run_letter = true;
            }
            continue;
        }
        if run_letter && !run_digit && run_len < 8 {
            return false;
        }
        (run_len, run_digit, run_letter) = (0, false, false);
        let after_digit = i > 0 && c[i - 1].is_ascii_digit();
        let separator = matches!(b, b'.' | b':' | b'-' | b'_' | b'/' | b',' | b'+')
            || (b == b'T' && after_digit && c.get(i + 1).is_some_and(u8::is_ascii_digit))
            || (b == b'Z' && after_digit && i + 1 == c.len());
        if !separator {
            return false;
        }
    }
    digits > 0 && !(run_letter && !run_digit && run_len < 8)
}

/// Masks variable parts inside a token that is not a variable as a whole.
fn mask_inner(core: &str, out: &mut String) {
    let b = core.as_bytes();
    // key=value (also `a=1,b=2` and JSON `"k":v`): the key stays, the value is masked.
    if let Some(p) = kv_split(b) {
        mask_runs(&core[..p], out);
        let v = &core[p..];
        if !v.is_empty() {
            // A value may be a further list of pairs (`a=1,b=2`); mask each pair's value.
            mask_value(v, out);
        }
        return;
    }
    mask_runs(core, out);
}

/// Position right after the first `=` (or JSON `":`) preceded by a word byte.
fn kv_split(b: &[u8]) -> Option<usize> {
    for i in 1..b.len() {
        if b[i] == b'=' && (is_word(b[i - 1]) || b[i - 1] == b' ') {
            return Some(i + 1);
        }
        if b[i] == b':' && b[i - 1] == b'"' && i >= 2 {
            return Some(i + 1);
        }
    }
    None
}

fn mask_value(v: &str, out: &mut String) {
    let b = v.as_bytes();
    // Split a pair list on separators that are followed by another `key=`.
    let mut start = 0;
    let mut first = true;
    let mut i = 0;
    while i <= b.len() {
        let at_sep =
            i == b.len() || (matches!(b[i], b',' | b'&' | b';') && next_is_pair(&b[i + 1..]));
        if at_sep {
            let part = &v[start..i];
            if first {
                out.push_str(WILDCARD);
                first = false;
            } else if let Some(p) = kv_split(part.as_bytes()) {
                mask_runs(&part[..p], out);
                out.push_str(WILDCARD);
            } else {
                out.push_str(WILDCARD);
            }
            if i < b.len() {
                out.push(char::from(b[i]));
            }
            start = i + 1;
        }
        i += 1;
    }
}

/// `key=` or JSON `"key":` ahead.
fn next_is_pair(b: &[u8]) -> bool {
    let quoted = b.first() == Some(&b'"');
    let mut i = usize::from(quoted);
    let s = i;
    while i < b.len() && (is_word(b[i]) || matches!(b[i], b'_' | b'.' | b'-')) {
        i += 1;
    }
    if i == s || i >= b.len() {
        return false;
    }
    if quoted {
        b[i] == b'"' && b.get(i + 1) == Some(&b':')
    } else {
        b[i] == b'='
    }
}

/// Digit runs delimited by punctuation, and long digit runs glued to letters, become `<*>`;
/// wildcards separated only by punctuation collapse into one.
fn mask_runs(core: &str, out: &mut String) {
    const GLUED_DIGITS: usize = 5;
    let b = core.as_bytes();
    let base = out.len();
    let mut i = 0;
    // Output offset just after the last wildcard, valid while only punctuation followed it.
    let mut collapse_at: Option<usize> = None;
    while i < b.len() {
        if !is_word(b[i]) {
            out.push(char::from(b[i]));
            i += 1;
            continue;
        }
        let s = i;
        while i < b.len() && is_word(b[i]) {
            i += 1;
        }
        let run = &core[s..i];
        let rb = run.as_bytes();
        let variable = rb.iter().all(u8::is_ascii_digit)
            || (rb.len() >= 8
                && rb.iter().all(|&x| is_hex(x))
                && rb.iter().any(u8::is_ascii_digit));
        if variable {
            // A sign glued to punctuation belongs to the number (`blk_-42` -> `blk_<*>`).
            let ob = out.as_bytes();
            let n = ob.len();
            if collapse_at.is_none()
                && n > base
                && matches!(ob[n - 1], b'-' | b'+')
                && (n - 1 == base || !is_word(ob[n - 2]))
            {
                out.truncate(n - 1);
            }
            emit_wildcard(out, &mut collapse_at);
            continue;
        }
        // Letters followed by a long digit tail (`steps1514038530000`): keep the letters.
        let mut d = rb.len();
        while d > 0 && rb[d - 1].is_ascii_digit() {
            d -= 1;
        }
        if rb.len() - d >= GLUED_DIGITS {
            out.push_str(&run[..d]);
            collapse_at = None;
            emit_wildcard(out, &mut collapse_at);
        } else {
            out.push_str(run);
            collapse_at = None;
        }
    }
}

fn emit_wildcard(out: &mut String, collapse_at: &mut Option<usize>) {
    if let Some(p) = *collapse_at {
        out.truncate(p);
    } else {
        out.push_str(WILDCARD);
    }
    *collapse_at = Some(out.len());
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn m(tok: &str) -> String {
        let mut s = String::new();
        mask_token(tok, &mut s);
        s
    }

    fn line(l: &str) -> String {
        let mut t = Tokenizer::default();
        t.run(l, 256);
        t.tokens
            .iter()
            .map(|x| t.masked_token(x).to_string())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn numbers() {
        assert_eq!(m("42"), "<*>");
        assert_eq!(m("-17"), "<*>");
        assert_eq!(m("3.14"), "<*>");
        assert_eq!(m("1,234"), "<*>");
        assert_eq!(m("250ms"), "<*>");
        assert_eq!(m("12KB"), "<*>");
        assert_eq!(m("99%"), "<*>");
        assert_eq!(m("(42)"), "(<*>)");
        assert_eq!(m("size:"), "size:");
        assert_eq!(m("hello"), "hello");
    }

    #[test]
    fn hex_and_uuid() {
        assert_eq!(m("0xdeadBEEF"), "<*>");
        assert_eq!(m("0x1f"), "<*>");
        assert_eq!(m("9f86d081884c7d65"), "<*>");
        assert_eq!(m("123e4567-e89b-12d3-a456-426614174000"), "<*>");
        assert_eq!(m("00:1a:2b:3c:4d:5e"), "<*>");
        // Hex-only English words must survive.
        assert_eq!(m("decade"), "decade");
        assert_eq!(m("cafe"), "cafe");
    }

    #[test]
    fn ips_with_ports() {
        assert_eq!(m("10.251.73.220"), "<*>");
        assert_eq!(m("10.251.73.220:50010"), "<*>");
        assert_eq!(m("/10.10.34.11:45307"), "<*>");
        assert_eq!(m("fe80::1ff:fe23:4567:890a"), "<*>");
        // Bracketed IPv6 with a port still collapses to a single wildcard.
        assert_eq!(m("[::1]:8080"), "[::<*>");
        // Host names with a port are endpoints; dotted names alone stay words.
        assert_eq!(m("www.example.com:443"), "<*>");
        assert_eq!(m("(db-1.internal:5432),"), "(<*>),");
        assert_eq!(m("org.example.Server"), "org.example.Server");
        assert_eq!(m("a..b:1"), "a..b:<*>");
    }

    #[test]
    fn paths_and_urls() {
        assert_eq!(m("/var/log/messages"), "<*>");
        assert_eq!(m("C:\\Windows\\x.dll"), "<*>");
        assert_eq!(m("https://example.com/a?b=1"), "<*>");
        assert_eq!(m("s3://bucket/key"), "<*>");
        assert_eq!(m("'/tmp/x'"), "'<*>'");
    }

    #[test]
    fn timestamps() {
        assert_eq!(m("2024-05-01T12:34:56.789Z"), "<*>");
        assert_eq!(m("2024-05-01"), "<*>");
        assert_eq!(m("12:34:56,789"), "<*>");
        assert_eq!(m("2005-06-03-15.42.50.675872"), "<*>");
        assert_eq!(m("20171223-22:15:29:606"), "<*>");
    }

    #[test]
    fn key_values() {
        assert_eq!(m("uid=0"), "uid=<*>");
        assert_eq!(m("(HWID=1973)"), "(HWID=<*>)");
        assert_eq!(m("state=RUNNING"), "state=<*>");
        assert_eq!(m("a=1,b=xyz"), "a=<*>,b=<*>");
        assert_eq!(m("{\"user\":\"bob\",\"n\":3}"), "{\"user\":<*>,\"n\":<*>}");
        assert_eq!(
            line("status: 503 in table: \"orders\""),
            "status: <*> in table: \"<*>\""
        );
        assert_eq!(line("action: SCREEN_ON"), "action: SCREEN_ON");
    }

    #[test]
    fn partial_tokens() {
        assert_eq!(m("blk_-6952295868487656571"), "blk_<*>");
        assert_eq!(m("x-1"), "x-<*>");
        assert_eq!(m("appattempt_1445144423722_0020_000001"), "appattempt_<*>");
        assert_eq!(m("node-246"), "node-<*>");
        assert_eq!(m("steps1514038530000|1|2"), "steps<*>");
        assert_eq!(m("R02-M1-N0-C:J12-U11"), "R02-M1-N0-C:J12-U11");
        assert_eq!(m("onExtend:1514038530000"), "onExtend:<*>");
    }

    #[test]
    fn kinds() {
        let mut s = String::new();
        assert_eq!(mask_token("word", &mut s), Kind::Const);
        assert_eq!(mask_token("dn228", &mut s), Kind::Digity);
        assert_eq!(mask_token("42", &mut s), Kind::Masked);
    }

    #[test]
    fn tokenizer_spans_and_limits() {
        let mut t = Tokenizer::default();
        t.run("  a  bb\tccc ", 256);
        assert_eq!(t.tokens.len(), 3);
        assert_eq!(t.tokens[1].raw, (5, 7));
        t.run("a b c d e f", 3);
        assert_eq!(t.tokens.len(), 3);
        assert_eq!(t.masked_token(&t.tokens[2]), "<*>");
        assert_eq!(t.tokens[2].raw, (4, 11));
        t.run("", 8);
        assert!(t.tokens.is_empty());
        t.run(" \t ", 8);
        assert!(t.tokens.is_empty());
    }

    #[test]
    fn non_ascii_is_kept_intact() {
        assert_eq!(
            line("ユーザー 42 がログインしました"),
            "ユーザー <*> がログインしました"
        );
        assert_eq!(m("値=５"), "値=<*>");
        assert_eq!(m("東京123456"), "東京<*>");
    }
}
