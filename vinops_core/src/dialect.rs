//! The Copart CSV dialect on a byte slice (docs/normalization.md §1): a strict RFC 4180 pass and the
//! tolerant pass for unescaped quotes. No I/O here; [`crate::records`] feeds it.
//!
//! Both passes take a slice that starts at a record's first byte and stop at the end of that record.
//! With `at_eof == false` a pass that cannot tell where the record ends yet (the slice ends inside the
//! record, or on a `\r` that may be the first half of `\r\n`, or on a `"` that may be the first half of
//! `""`) answers [`Scan::Incomplete`]; the caller then retries from the same first byte with more bytes.
//! Neither pass panics or allocates beyond the reused [`Fields`] buffers, whatever the bytes.

use memchr::{memchr, memchr2, memchr3};

/// The unescaped fields of one record, stored contiguously (one allocation reused for every record).
#[derive(Debug, Default, Clone)]
pub struct Fields {
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl Fields {
    pub fn clear(&mut self) {
        self.buf.clear();
        self.ends.clear();
    }
    pub fn len(&self) -> usize {
        self.ends.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
    /// Field `i` (raw bytes, untrimmed).
    pub fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.buf[start..self.ends[i]]
    }
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }
    /// Total bytes of all fields together.
    pub fn total_bytes(&self) -> usize {
        self.buf.len()
    }
    /// All fields as one string when the record is valid UTF-8; with [`Fields::range`] this validates a
    /// record once instead of field by field. Field boundaries fall on ASCII delimiters in the input, so
    /// every field of a valid record is valid on its own.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.buf).ok()
    }
    /// Byte range of field `i` within [`Fields::as_str`].
    pub fn range(&self, i: usize) -> std::ops::Range<usize> {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        start..self.ends[i]
    }

    #[inline]
    fn push_bytes(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }
    #[inline]
    fn end_field(&mut self) {
        self.ends.push(self.buf.len());
    }
    #[inline]
    fn push_field(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        self.ends.push(self.buf.len());
    }
}

/// How far a pass got from the start of its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// The record ended; `end` is the index just past its line break (or the input's length at EOF).
    /// `irregular` only in the strict pass: see the rules. The strict pass stops at the first
    /// irregularity, so for an irregular record `end` is only where it stopped (the caller redoes the
    /// record with [`tolerant`]) and the fields in `out` are incomplete.
    Complete { end: usize, irregular: bool },
    /// The input ended mid-record and `at_eof` was false: call again with more bytes.
    Incomplete,
}

/// The end of the line break that starts at `input[i]` (a `\r` or `\n`), or None when `input[i]` is a
/// `\r` that ends the slice and more input may follow (it could be the first half of `\r\n`).
#[inline]
fn break_end(input: &[u8], i: usize, at_eof: bool) -> Option<usize> {
    if input[i] == b'\r' {
        match input.get(i + 1) {
            Some(b'\n') => Some(i + 2),
            Some(_) => Some(i + 1),
            None if at_eof => Some(i + 1),
            None => None,
        }
    } else {
        Some(i + 1)
    }
}

/// Length of the record `input[..end]` without its line break (for a record returned by either pass,
/// unless the strict pass called it irregular).
#[inline]
pub fn content_len(input: &[u8], end: usize) -> usize {
    match end.checked_sub(1).map(|i| input[i]) {
        Some(b'\n') if end >= 2 && input[end - 2] == b'\r' => end - 2,
        Some(b'\n' | b'\r') => end - 1,
        _ => end,
    }
}

/// The strict RFC 4180 pass over one record starting at `input[0]`; fields go to `out` (cleared first).
pub fn strict(input: &[u8], at_eof: bool, out: &mut Fields) -> Scan {
    out.clear();
    let n = input.len();
    // `i` is always the first byte of a field (possibly == n).
    let mut i = 0;
    loop {
        if i < n && input[i] == b'"' {
            // Quoted field: jump from quote to quote.
            let mut j = i + 1;
            loop {
                let Some(k) = memchr(b'"', &input[j..]) else {
                    // The input ends inside the quoted field.
                    if !at_eof {
                        return Scan::Incomplete;
                    }
                    out.push_field(&input[j..]);
                    return Scan::Complete { end: n, irregular: true };
                };
                let q = j + k;
                out.push_bytes(&input[j..q]);
                match input.get(q + 1) {
                    Some(b'"') => {
                        out.push_bytes(b"\"");
                        j = q + 2;
                    }
                    Some(b',') => {
                        out.end_field();
                        i = q + 2;
                        break;
                    }
                    Some(b'\n' | b'\r') => {
                        return match break_end(input, q + 1, at_eof) {
                            Some(end) => {
                                out.end_field();
                                Scan::Complete { end, irregular: false }
                            }
                            None => Scan::Incomplete,
                        };
                    }
                    Some(_) => {
                        out.end_field();
                        return Scan::Complete { end: q + 1, irregular: true };
                    }
                    None if at_eof => {
                        out.end_field();
                        return Scan::Complete { end: n, irregular: false };
                    }
                    None => return Scan::Incomplete,
                }
            }
        } else {
            // Unquoted field: a `"` in it is literal.
            match memchr3(b',', b'\n', b'\r', &input[i..]) {
                None => {
                    if !at_eof {
                        return Scan::Incomplete;
                    }
                    out.push_field(&input[i..]);
                    return Scan::Complete { end: n, irregular: false };
                }
                Some(k) => {
                    let p = i + k;
                    if input[p] == b',' {
                        out.push_field(&input[i..p]);
                        i = p + 1;
                    } else {
                        let Some(end) = break_end(input, p, at_eof) else {
                            return Scan::Incomplete;
                        };
                        out.push_field(&input[i..p]);
                        return Scan::Complete { end, irregular: false };
                    }
                }
            }
        }
    }
}

/// The tolerant pass (a quote closes a quoted field only before `,`, a line break or EOF; a line break
/// always ends the record); fields go to `out` (cleared first).
///
/// A quoted field with no closing quote runs to the end of the line (its opening quote dropped).
/// `irregular` is always false.
pub fn tolerant(input: &[u8], at_eof: bool, out: &mut Fields) -> Scan {
    out.clear();
    let (line_len, end) = match memchr2(b'\n', b'\r', input) {
        Some(p) => match break_end(input, p, at_eof) {
            Some(end) => (p, end),
            None => return Scan::Incomplete,
        },
        None if at_eof => (input.len(), input.len()),
        None => return Scan::Incomplete,
    };
    let line = &input[..line_len];
    let n = line.len();
    let mut i = 0;
    loop {
        if i < n && line[i] == b'"' {
            // The first `"` after the opening one that is followed by `,` or the end of the line.
            let mut j = i + 1;
            let close = loop {
                match memchr(b'"', &line[j..]) {
                    None => break None,
                    Some(k) => {
                        let q = j + k;
                        if q + 1 == n || line[q + 1] == b',' {
                            break Some(q);
                        }
                        j = q + 1;
                    }
                }
            };
            match close {
                Some(q) => {
                    out.push_field(&line[i + 1..q]);
                    if q + 1 == n {
                        break;
                    }
                    i = q + 2;
                }
                None => {
                    out.push_field(&line[i + 1..]);
                    break;
                }
            }
        } else {
            match memchr(b',', &line[i..]) {
                None => {
                    out.push_field(&line[i..]);
                    break;
                }
                Some(k) => {
                    out.push_field(&line[i..i + k]);
                    i += k + 1;
                }
            }
        }
    }
    Scan::Complete { end, irregular: false }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug)]
    enum Pass {
        Strict,
        Tolerant,
    }

    fn run(pass: Pass, input: &[u8], at_eof: bool) -> (Scan, Vec<Vec<u8>>) {
        let mut f = Fields::default();
        // A dirty buffer first: each pass must clear it.
        f.push_field(b"stale");
        let scan = match pass {
            Pass::Strict => strict(input, at_eof, &mut f),
            Pass::Tolerant => tolerant(input, at_eof, &mut f),
        };
        (scan, f.iter().map(<[u8]>::to_vec).collect())
    }

    const fn done(end: usize) -> Scan {
        Scan::Complete { end, irregular: false }
    }
    const fn irregular(end: usize) -> Scan {
        Scan::Complete { end, irregular: true }
    }

    /// (input, at_eof, expected scan, expected fields; fields are not checked for irregular records).
    type Case = (&'static [u8], bool, Scan, &'static [&'static [u8]]);

    const STRICT: &[Case] = &[
        (b"a,b,c\n", true, done(6), &[b"a", b"b", b"c"]),
        (b"a,b,c\nnext", false, done(6), &[b"a", b"b", b"c"]),
        (b"\"a\",\"b\"\r\nnext", false, done(9), &[b"a", b"b"]),
        (b",,\n", true, done(3), &[b"", b"", b""]),
        (b"\"\"\n", true, done(3), &[b""]),
        (b"\"\",\"\",x\n", true, done(8), &[b"", b"", b"x"]),
        (b"\"a\"\"b\",c\n", true, done(9), &[b"a\"b", b"c"]),
        (b"\"\"\"\"\n", true, done(5), &[b"\""]),
        (b"\"a,b\",\"c\nd\"\n", true, done(12), &[b"a,b", b"c\nd"]),
        (b"\"x\r\ny\"\r\nnext", true, done(8), &[b"x\r\ny"]),
        (b"\"x\ry\"\rnext", true, done(6), &[b"x\ry"]),
        (b"a\"b,c\"\n", true, done(7), &[b"a\"b", b"c\""]),
        (b" \"a\" ,b\n", true, done(8), &[b" \"a\" ", b"b"]),
        (b"\"abc\"\r\n", true, done(7), &[b"abc"]),
        (b"\"abc\"\n", true, done(6), &[b"abc"]),
        (b"\"abc\"", true, done(5), &[b"abc"]),
        (b"\"abc\"", false, Scan::Incomplete, &[]),
        (b"\"abc\"\r", false, Scan::Incomplete, &[]),
        (b"\"abc\"\r", true, done(6), &[b"abc"]),
        (b"a,b", true, done(3), &[b"a", b"b"]),
        (b"a,b", false, Scan::Incomplete, &[]),
        (b"a,", true, done(2), &[b"a", b""]),
        (b"a,", false, Scan::Incomplete, &[]),
        (b"a\rb", true, done(2), &[b"a"]),
        (b"a\r\nb", true, done(3), &[b"a"]),
        (b"a\r", false, Scan::Incomplete, &[]),
        (b"a\r", true, done(2), &[b"a"]),
        (b"\n", true, done(1), &[b""]),
        (b"", true, done(0), &[b""]),
        (b"", false, Scan::Incomplete, &[]),
        (b"\xff\xfe,\"\xc3\",\x00\n", true, done(9), &[b"\xff\xfe", b"\xc3", b"\x00"]),
        // Irregular: a closing quote followed by something else, or EOF inside a quoted field.
        (b"\"SUMMIT 850 X 165\"\",\"\",\"BLUE\"\n", true, irregular(24), &[]),
        (b"\"113\" SLEEPER CAB\",x\n", true, irregular(5), &[]),
        (b"\"113\" SLEEPER CAB\",x\n", false, irregular(5), &[]),
        (b"a,\"b\"c\n", true, irregular(5), &[]),
        (b"\"abc", true, irregular(4), &[]),
        (b"\"abc", false, Scan::Incomplete, &[]),
        (b"\"abc\ndef\n", true, irregular(9), &[]),
        (b"\"a\"\"", true, irregular(4), &[]),
        (b"\"", true, irregular(1), &[]),
    ];

    const TOLERANT: &[Case] = &[
        (b"\"SUMMIT 850 X 165\"\",\"\",\"BLUE\"\n", true, done(30), &[b"SUMMIT 850 X 165\"", b"", b"BLUE"]),
        (b"\"113\" SLEEPER CAB\"\n", true, done(19), &[b"113\" SLEEPER CAB"]),
        (b"\"113\" SLEEPER CAB\",x\r\nnext", false, done(22), &[b"113\" SLEEPER CAB", b"x"]),
        (b"1,\"113\" SLEEPER CAB\"", true, done(20), &[b"1", b"113\" SLEEPER CAB"]),
        (b"\"113\" SLEEPER CAB\"", false, Scan::Incomplete, &[]),
        (b"a,b,c\n", true, done(6), &[b"a", b"b", b"c"]),
        (b"\"a\",\"b\"\r\n", true, done(9), &[b"a", b"b"]),
        (b"\"a\"\"b\"\n", true, done(7), &[b"a\"\"b"]),
        (b"\"\",\"\",\n", true, done(7), &[b"", b"", b""]),
        (b"\"\"\",x\n", true, done(6), &[b"\"", b"x"]),
        (b"\"a,b\",c\n", true, done(8), &[b"a,b", b"c"]),
        (b"a\"b,\"c\"\n", true, done(8), &[b"a\"b", b"c"]),
        // A line break always ends the record, even inside quotes.
        (b"\"abc,def\nghi\"\n", true, done(9), &[b"abc,def"]),
        (b"\"x\r\ny\"\r\n", true, done(4), &[b"x"]),
        (b"\"x\ry\"\r", true, done(3), &[b"x"]),
        // No closing quote: the field runs to the end of the line.
        (b"\"abc\"x,y\n", true, done(9), &[b"abc\"x,y"]),
        (b"\"abc", true, done(4), &[b"abc"]),
        (b"\"", true, done(1), &[b""]),
        (b"\"abc", false, Scan::Incomplete, &[]),
        (b"a,", true, done(2), &[b"a", b""]),
        (b"a\r", false, Scan::Incomplete, &[]),
        (b"a\r", true, done(2), &[b"a"]),
        (b"a\rb", false, done(2), &[b"a"]),
        (b"", true, done(0), &[b""]),
    ];

    fn check_table(pass: Pass, table: &[Case]) {
        for (i, &(input, at_eof, want_scan, want_fields)) in table.iter().enumerate() {
            let (scan, fields) = run(pass, input, at_eof);
            let ctx = format!("{pass:?} case {i}: {:?} at_eof={at_eof}", String::from_utf8_lossy(input));
            assert_eq!(scan, want_scan, "{ctx}");
            if matches!(scan, Scan::Complete { irregular: false, .. }) {
                let want: Vec<Vec<u8>> = want_fields.iter().map(|f| f.to_vec()).collect();
                assert_eq!(fields, want, "{ctx}");
            }
        }
    }

    #[test]
    fn strict_table() {
        check_table(Pass::Strict, STRICT);
    }

    #[test]
    fn tolerant_table() {
        check_table(Pass::Tolerant, TOLERANT);
    }

    /// With fewer bytes (and `at_eof` false) a pass either asks for more or gives the same answer as
    /// with the whole input: the streaming reader relies on it.
    #[test]
    fn prefixes_are_incomplete_or_agree() {
        for (pass, table) in [(Pass::Strict, STRICT), (Pass::Tolerant, TOLERANT)] {
            for &(input, _, _, _) in table {
                let full = run(pass, input, true);
                for p in 0..=input.len() {
                    let part = run(pass, &input[..p], false);
                    if part.0 != Scan::Incomplete {
                        assert_eq!(part.0, full.0, "{pass:?} {input:?} prefix {p}");
                        if !matches!(part.0, Scan::Complete { irregular: true, .. }) {
                            assert_eq!(part.1, full.1, "{pass:?} {input:?} prefix {p}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn content_len_strips_one_line_break() {
        for (input, end, want) in [
            (&b"a\r\n"[..], 3, 1),
            (b"a\n", 2, 1),
            (b"a\r", 2, 1),
            (b"a", 1, 1),
            (b"\n\n", 2, 1),
            (b"", 0, 0),
            (b"\"x\"", 3, 3),
        ] {
            assert_eq!(content_len(input, end), want, "{input:?}");
        }
    }

    /// Neither pass may panic or read past its input on any bytes (a small exhaustive sweep over an
    /// alphabet of the bytes that matter).
    #[test]
    fn exhaustive_small_inputs_are_sane() {
        const ALPHABET: &[u8] = b"a,\"\r\n";
        let mut f = Fields::default();
        let mut input = Vec::new();
        for len in 0..=7u32 {
            for mut code in 0..ALPHABET.len().pow(len) {
                input.clear();
                for _ in 0..len {
                    input.push(ALPHABET[code % ALPHABET.len()]);
                    code /= ALPHABET.len();
                }
                for at_eof in [false, true] {
                    for pass in [strict, tolerant] {
                        match pass(&input, at_eof, &mut f) {
                            Scan::Incomplete => assert!(!at_eof, "{input:?}"),
                            Scan::Complete { end, .. } => {
                                assert!(end <= input.len(), "{input:?}");
                                assert!(!f.is_empty(), "{input:?}");
                                assert!(f.total_bytes() <= input.len(), "{input:?}");
                            }
                        }
                    }
                }
            }
        }
    }
}
