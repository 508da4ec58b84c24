//! Byte caps on text taken from the input and kept: the one place that cuts a string to a
//! number of bytes (on a character boundary) and marks the cut with `…`, so that what the
//! parsers and the distiller keep per record, template or sample costs a bounded number of
//! bytes whatever the input holds. The caps themselves live with the modules that keep the
//! text, each with the reason for its size.

/// The marker appended to text that was cut.
pub const CUT_MARKER: char = '…';

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub fn prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
}

/// `s` cut to at most `max` bytes plus the [`CUT_MARKER`] when it was longer.
pub fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut out = String::with_capacity(max + CUT_MARKER.len_utf8());
    out.push_str(prefix(s, max));
    out.push(CUT_MARKER);
    out
}

/// [`cut`] in place: no copy when `s` is within `max`, and the excess capacity is freed when
/// it is cut (a cut string must not keep the megabyte it was cut from).
pub fn cut_in_place(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let keep = prefix(s, max).len();
    s.truncate(keep);
    s.push(CUT_MARKER);
    s.shrink_to_fit();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_on_a_character_boundary_with_a_marker() {
        assert_eq!(cut("short", 10), "short");
        assert_eq!(cut("abcdef", 3), "abc…");
        // 'é' is two bytes: a cut at 3 keeps one of them whole
        assert_eq!(cut("éé", 3), "é…");
        let mut s = "x".repeat(10_000);
        cut_in_place(&mut s, 100);
        assert_eq!(s.len(), 100 + CUT_MARKER.len_utf8());
        assert!(s.capacity() < 200, "the cut frees what it cut");
        let mut t = String::from("ok");
        cut_in_place(&mut t, 2);
        assert_eq!(t, "ok");
        assert_eq!(prefix("aé", 2), "a");
    }
}
