//! Whitespace rules shared by every module (docs/normalization.md §3): ASCII space, \t, \n, \v, \f, \r.

/// One of the six ASCII whitespace bytes of the rules (Rust's `is_ascii_whitespace` lacks \v).
#[inline]
pub fn is_space(b: u8) -> bool {
    // Bits 9..=13 and 32: one compare and a bit test.
    const SPACES: u64 = (1 << b' ') | (1 << b'\t') | (1 << b'\n') | (1 << 0x0b) | (1 << 0x0c) | (1 << b'\r');
    b <= b' ' && (SPACES >> b) & 1 == 1
}

/// Trims those bytes from both ends.
#[inline]
pub fn trim(s: &str) -> &str {
    let bytes = s.as_bytes();
    // Most values have nothing to trim: two byte checks.
    match (bytes.first(), bytes.last()) {
        (Some(&first), Some(&last)) if !is_space(first) && !is_space(last) => return s,
        _ => {}
    }
    let start = bytes.iter().position(|b| !is_space(*b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !is_space(*b)).map_or(start, |i| i + 1);
    // Both ends sit next to ASCII bytes, so they are char boundaries.
    &s[start..end]
}

/// Writes `s` into `out` (cleared first) trimmed, with every run of whitespace collapsed to one space.
pub fn collapse_into(s: &str, out: &mut String) {
    out.clear();
    for word in s.split(|c: char| c.is_ascii() && is_space(c as u8)).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
}

/// The lookup key of a name or categorical value: collapsed as above, ASCII letters upper-cased.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    collapse_into(s, &mut out);
    out.make_ascii_uppercase();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_six_bytes_and_nothing_else() {
        assert_eq!(trim(" \t\n\x0b\x0c\rA B\r\n"), "A B");
        assert_eq!(trim("\u{a0}A\u{a0}"), "\u{a0}A\u{a0}", "no-break space is not trimmed");
        assert_eq!(fold("  front-wheel \x0b\t drive "), "FRONT-WHEEL DRIVE");
        assert_eq!(fold("2.4L  4"), "2.4L 4");
        assert_eq!(fold(" \x0b "), "");
        assert_eq!(fold("straße"), "STRAßE", "only ASCII letters change case");
        for b in 0..=255u8 {
            assert_eq!(is_space(b), matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'), "{b}");
        }
        for s in ["", " ", "a", " a", "a ", " a ", "\u{a0}", "\x0ba\x0c"] {
            assert_eq!(trim(s), s.trim_matches(|c: char| c.is_ascii() && is_space(c as u8)), "{s:?}");
        }
    }
}
