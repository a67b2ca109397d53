//! The Copart CSV dialect on a byte slice (docs/normalization.md §1): a strict RFC 4180 pass and the
//! tolerant pass for unescaped quotes. No I/O here; [`crate::records`] feeds it.
//!
//! Both passes take a slice that starts at a record's first byte and stop at the end of that record.
//! With `at_eof == false` a pass that cannot tell where the record ends yet (the slice ends inside the
//! record, or on a `\r` that may be the first half of `\r\n`, or on a `"` that may be the first half of
//! `""`) answers [`Scan::Incomplete`]; the caller then retries from the same first byte with more bytes.
//! Neither pass panics or allocates beyond the reused [`Fields`] buffers, whatever the bytes.
//!
//! Fields are not copied: a field is a byte range of the pass's input, except a quoted field with `""`
//! in it, whose unescaped bytes go to a side buffer. [`Fields::row`] pairs the ranges with the input.

use memchr::memchr;

mod whole;

/// Marks a span whose bytes live in [`Fields`]' own buffer (an unescaped field) instead of the input.
const OWNED: u32 = 1 << 31;

/// The fields of one record: for each, a byte range of the pass's input or, for an unescaped field,
/// of the side buffer (one allocation each, reused for every record).
#[derive(Debug, Default, Clone)]
pub struct Fields {
    buf: Vec<u8>,
    /// `(start, end)`; `start & OWNED` set: a range of `buf`.
    spans: Vec<(u32, u32)>,
    /// Set by the strict pass when every byte it scanned (a superset of the record's bytes) is ASCII, so
    /// the record is valid UTF-8 without a second look; only [`Fields::scanned_row`] relies on it.
    ascii: bool,
    /// Set by the strict pass when the record is one physical line (no line break inside quotes), so
    /// the reader need not count its breaks.
    one_line: bool,
}

impl Fields {
    pub fn clear(&mut self) {
        self.buf.clear();
        self.spans.clear();
        self.ascii = false;
        self.one_line = false;
    }
    pub fn len(&self) -> usize {
        self.spans.len()
    }
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
    /// Total bytes of all fields together.
    pub fn total_bytes(&self) -> usize {
        self.spans.iter().map(|&(start, end)| (end - (start & !OWNED)) as usize).sum()
    }
    /// The fields, with `input` the slice the pass that filled them was given.
    pub fn row<'a>(&'a self, input: &'a [u8]) -> Row<'a> {
        Row { input, fields: self, ascii: false }
    }

    /// Like [`Fields::row`], for the caller that just ran the pass: `input` must be a prefix of the slice
    /// the pass was given, unchanged since (the record reader's case). Then a record the strict pass saw
    /// as all ASCII skips the UTF-8 check in [`Row::text`].
    pub(crate) fn scanned_row<'a>(&'a self, input: &'a [u8]) -> Row<'a> {
        Row { input, fields: self, ascii: self.ascii }
    }

    /// The record just scanned is known to span one physical line (false: not known).
    pub(crate) fn one_line(&self) -> bool {
        self.one_line
    }

    #[inline]
    fn push_span(&mut self, start: usize, end: usize) {
        // Inputs are at most a record window (about 1 MiB), far below 2^31.
        self.spans.push((start as u32, end as u32));
    }
    #[inline]
    fn push_owned(&mut self, start: usize) {
        let end = self.buf.len();
        self.spans.push((start as u32 | OWNED, end as u32));
    }
}

/// One record's fields with the bytes they point into.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    input: &'a [u8],
    fields: &'a Fields,
    /// The strict pass saw only ASCII bytes (see [`Fields::scanned_row`]).
    ascii: bool,
}

impl<'a> Row<'a> {
    pub fn len(&self) -> usize {
        self.fields.len()
    }
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
    /// Total bytes of all fields together.
    pub fn total_bytes(&self) -> usize {
        self.fields.total_bytes()
    }
    /// Field `i` (raw bytes, untrimmed).
    #[inline]
    pub fn get(&self, i: usize) -> &'a [u8] {
        let (start, end) = self.fields.spans[i];
        if start & OWNED == 0 {
            &self.input[start as usize..end as usize]
        } else {
            &self.fields.buf[(start & !OWNED) as usize..end as usize]
        }
    }
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let row = *self;
        (0..row.len()).map(move |i| row.get(i))
    }
    /// The fields as text when every one is valid UTF-8 (checked once for the whole record, not field by
    /// field). Field boundaries fall on ASCII delimiters and every byte of the input outside the fields
    /// is an ASCII delimiter, quote or line break, so the input is valid exactly when every field is.
    pub fn text(&self) -> Option<RowText<'a>> {
        if self.ascii {
            debug_assert!(self.input.is_ascii() && self.fields.buf.is_ascii());
            // SAFETY: `ascii` is only set by `Fields::scanned_row`, whose caller guarantees `input` is
            // (a prefix of) what the strict pass scanned, unchanged; that pass saw no byte ≥ 0x80 in it,
            // and `buf` holds copies of its bytes. ASCII is valid UTF-8.
            let (input, buf) = unsafe {
                (std::str::from_utf8_unchecked(self.input), std::str::from_utf8_unchecked(&self.fields.buf))
            };
            return Some(RowText { input, buf, spans: &self.fields.spans, ascii: true });
        }
        let input = std::str::from_utf8(self.input).ok()?;
        let buf = std::str::from_utf8(&self.fields.buf).ok()?;
        Some(RowText { input, buf, spans: &self.fields.spans, ascii: false })
    }
}

/// [`Row`] as text.
#[derive(Clone, Copy)]
pub struct RowText<'a> {
    input: &'a str,
    buf: &'a str,
    spans: &'a [(u32, u32)],
    /// `input` and `buf` are ASCII, so every index is a char boundary.
    ascii: bool,
}

impl<'a> RowText<'a> {
    /// Field `i` (untrimmed).
    #[inline]
    pub fn get(&self, i: usize) -> &'a str {
        let (start, end) = self.spans[i];
        let (text, start) = if start & OWNED == 0 { (self.input, start) } else { (self.buf, start & !OWNED) };
        if self.ascii {
            // SAFETY: a slice (bounds-checked) of ASCII text is ASCII, so valid UTF-8.
            unsafe { std::str::from_utf8_unchecked(&text.as_bytes()[start as usize..end as usize]) }
        } else {
            &text[start as usize..end as usize]
        }
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

/// Where the strict pass's special bytes are, 64 input bytes at a time: bit `k` of `quotes` is set when
/// `input[base + k]` is `"`, of `seps` when it is `,`, `\n` or `\r`. Blocks are computed as the scan
/// reaches them, so a record costs about one block per 64 bytes whatever its fields.
struct Blocks<'a> {
    input: &'a [u8],
    base: usize,
    quotes: u64,
    seps: u64,
    /// OR of the non-ASCII byte masks of every block loaded so far.
    high: u64,
}

impl<'a> Blocks<'a> {
    fn new(input: &'a [u8]) -> Self {
        let mut b = Blocks { input, base: 0, quotes: 0, seps: 0, high: 0 };
        b.load(0);
        b
    }

    /// Masks of the block starting at `base`.
    #[inline]
    fn load(&mut self, base: usize) {
        self.base = base;
        let m = block_masks(self.input, base);
        (self.quotes, self.seps) = (m.quotes, m.commas | m.breaks);
        self.high |= m.high;
    }

    /// The first `"` at or after `from`.
    #[inline]
    fn next_quote(&mut self, from: usize) -> Option<usize> {
        self.next(from, true)
    }

    /// The first `,`, `\n` or `\r` at or after `from`.
    #[inline]
    fn next_sep(&mut self, from: usize) -> Option<usize> {
        self.next(from, false)
    }

    /// The common case inline: `from` is in the loaded block and a match follows it there.
    #[inline(always)]
    fn next(&mut self, from: usize, quote: bool) -> Option<usize> {
        let off = from.wrapping_sub(self.base);
        if off < 64 {
            let mask = if quote { self.quotes } else { self.seps };
            let m = mask >> off;
            if m != 0 {
                return Some(from + m.trailing_zeros() as usize);
            }
        }
        self.next_slow(from, quote)
    }

    #[inline(never)]
    fn next_slow(&mut self, mut from: usize, quote: bool) -> Option<usize> {
        loop {
            if from >= self.base + 64 || from < self.base {
                if from >= self.input.len() {
                    return None;
                }
                self.load(from);
            }
            let mask = if quote { self.quotes } else { self.seps };
            let m = mask & (u64::MAX << (from - self.base));
            if m != 0 {
                return Some(self.base + m.trailing_zeros() as usize);
            }
            from = self.base + 64;
            if from >= self.input.len() {
                return None;
            }
        }
    }
}

/// Where the special bytes of 64 input bytes are: bit `k` is set when byte `k` is a `"` (`quotes`), a `,`
/// (`commas`), a `\n` or `\r` (`breaks`), or not ASCII (`high`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Masks {
    quotes: u64,
    commas: u64,
    breaks: u64,
    high: u64,
}

/// The masks of `input[base..base + 64]` (bits past the input's end are clear).
#[inline(always)]
fn block_masks(input: &[u8], base: usize) -> Masks {
    block_masks_with(input, base, masks64)
}

/// [`block_masks`] with the given way of computing the masks of 64 bytes.
#[inline(always)]
fn block_masks_with(input: &[u8], base: usize, masks64: impl Fn(&[u8; 64]) -> Masks) -> Masks {
    let rest = &input[base.min(input.len())..];
    if rest.len() >= 64 {
        return masks64(rest[..64].try_into().expect("64 bytes"));
    }
    let mut block = [0u8; 64];
    block[..rest.len()].copy_from_slice(rest);
    let m = masks64(&block);
    let keep = if rest.is_empty() { 0 } else { u64::MAX >> (64 - rest.len()) };
    Masks { quotes: m.quotes & keep, commas: m.commas & keep, breaks: m.breaks & keep, high: m.high }
}

/// The [`Masks`] of 64 bytes: with AVX2 when the CPU has it.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn masks64(block: &[u8; 64]) -> Masks {
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above; the answer is cached).
        unsafe { masks64_avx2(block) }
    } else {
        masks64_sse2(block)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn masks64_avx2(block: &[u8; 64]) -> Masks {
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_or_si256, _mm256_set1_epi8,
    };
    let quote = _mm256_set1_epi8(b'"' as i8);
    let comma = _mm256_set1_epi8(b',' as i8);
    let lf = _mm256_set1_epi8(b'\n' as i8);
    let cr = _mm256_set1_epi8(b'\r' as i8);
    let mut m = Masks { quotes: 0, commas: 0, breaks: 0, high: 0 };
    for k in 0..2 {
        // SAFETY: each load reads 32 bytes inside `block`.
        let v = unsafe { _mm256_loadu_si256(block.as_ptr().add(32 * k).cast::<__m256i>()) };
        let bm = _mm256_or_si256(_mm256_cmpeq_epi8(v, lf), _mm256_cmpeq_epi8(v, cr));
        m.quotes |= u64::from(_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, quote)) as u32) << (32 * k);
        m.commas |= u64::from(_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, comma)) as u32) << (32 * k);
        m.breaks |= u64::from(_mm256_movemask_epi8(bm) as u32) << (32 * k);
        m.high |= u64::from(_mm256_movemask_epi8(v) as u32) << (32 * k);
    }
    m
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn masks64_sse2(block: &[u8; 64]) -> Masks {
    use std::arch::x86_64::{__m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8};
    let bits = |m: i32, k: usize| u64::from(m as u32 as u16) << (16 * k);
    // SAFETY: SSE2 is part of the x86_64 baseline; each load reads 16 bytes inside `block`.
    unsafe {
        let quote = _mm_set1_epi8(b'"' as i8);
        let comma = _mm_set1_epi8(b',' as i8);
        let lf = _mm_set1_epi8(b'\n' as i8);
        let cr = _mm_set1_epi8(b'\r' as i8);
        let mut m = Masks { quotes: 0, commas: 0, breaks: 0, high: 0 };
        for k in 0..4 {
            let v = _mm_loadu_si128(block.as_ptr().add(16 * k).cast::<__m128i>());
            m.high |= bits(_mm_movemask_epi8(v), k);
            m.quotes |= bits(_mm_movemask_epi8(_mm_cmpeq_epi8(v, quote)), k);
            m.commas |= bits(_mm_movemask_epi8(_mm_cmpeq_epi8(v, comma)), k);
            m.breaks |= bits(_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, lf), _mm_cmpeq_epi8(v, cr))), k);
        }
        m
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn masks64(block: &[u8; 64]) -> Masks {
    let mut m = Masks { quotes: 0, commas: 0, breaks: 0, high: 0 };
    for (k, &b) in block.iter().enumerate() {
        m.quotes |= u64::from(b == b'"') << k;
        m.commas |= u64::from(b == b',') << k;
        m.breaks |= u64::from(matches!(b, b'\n' | b'\r')) << k;
        m.high |= u64::from(b >= 0x80) << k;
    }
    m
}

/// The strict RFC 4180 pass over one record starting at `input[0]`; fields go to `out` (cleared first).
pub fn strict(input: &[u8], at_eof: bool, out: &mut Fields) -> Scan {
    // Most records take the fast path; it leaves every other one to the loop below.
    if let Some(scan) = whole::scan(input, out) {
        return scan;
    }
    out.clear();
    let n = input.len();
    let mut blocks = Blocks::new(input);
    // `i` is always the first byte of a field (possibly == n).
    let mut i = 0;
    loop {
        if i < n && input[i] == b'"' {
            // Quoted field: jump from quote to quote. `seg` starts the bytes not yet stored; `owned` is
            // set once a `""` made the field need its own copy.
            let mut j = i + 1;
            let seg_start = j;
            let mut owned: Option<usize> = None;
            loop {
                let Some(q) = blocks.next_quote(j) else {
                    // The input ends inside the quoted field.
                    if !at_eof {
                        return Scan::Incomplete;
                    }
                    finish_quoted(out, input, seg_start, j, n, owned);
                    return Scan::Complete { end: n, irregular: true };
                };
                match input.get(q + 1) {
                    Some(b'"') => {
                        // `""`: one literal quote; from here the field is unescaped into the buffer.
                        let from = match owned {
                            Some(_) => j,
                            None => {
                                owned = Some(out.buf.len());
                                seg_start
                            }
                        };
                        out.buf.extend_from_slice(&input[from..=q]);
                        j = q + 2;
                    }
                    Some(b',') => {
                        finish_quoted(out, input, seg_start, j, q, owned);
                        i = q + 2;
                        break;
                    }
                    Some(b'\n' | b'\r') => {
                        return match break_end(input, q + 1, at_eof) {
                            Some(end) => {
                                finish_quoted(out, input, seg_start, j, q, owned);
                                out.ascii = blocks.high == 0;
                                Scan::Complete { end, irregular: false }
                            }
                            None => Scan::Incomplete,
                        };
                    }
                    Some(_) => {
                        finish_quoted(out, input, seg_start, j, q, owned);
                        return Scan::Complete { end: q + 1, irregular: true };
                    }
                    None if at_eof => {
                        finish_quoted(out, input, seg_start, j, q, owned);
                        out.ascii = blocks.high == 0;
                        return Scan::Complete { end: n, irregular: false };
                    }
                    None => return Scan::Incomplete,
                }
            }
        } else {
            // Unquoted field: a `"` in it is literal.
            match blocks.next_sep(i) {
                None => {
                    if !at_eof {
                        return Scan::Incomplete;
                    }
                    out.push_span(i.min(n), n);
                    out.ascii = blocks.high == 0;
                    return Scan::Complete { end: n, irregular: false };
                }
                Some(p) => {
                    if input[p] == b',' {
                        out.push_span(i, p);
                        i = p + 1;
                    } else {
                        let Some(end) = break_end(input, p, at_eof) else {
                            return Scan::Incomplete;
                        };
                        out.push_span(i, p);
                        out.ascii = blocks.high == 0;
                        return Scan::Complete { end, irregular: false };
                    }
                }
            }
        }
    }
}

/// Ends a quoted field whose content is `input[seg_start..close]`: a plain range, or (after a `""`) the
/// buffered part plus `input[j..close]`.
#[inline(always)]
fn finish_quoted(out: &mut Fields, input: &[u8], seg_start: usize, j: usize, close: usize, owned: Option<usize>) {
    match owned {
        None => out.push_span(seg_start, close),
        Some(start) => {
            out.buf.extend_from_slice(&input[j..close]);
            out.push_owned(start);
        }
    }
}

/// The tolerant pass (a quote closes a quoted field only before `,`, a line break or EOF; a line break
/// always ends the record); fields go to `out` (cleared first). Its fields are never unescaped, so
/// they are all ranges of the input.
///
/// A quoted field with no closing quote runs to the end of the line (its opening quote dropped).
/// `irregular` is always false.
pub fn tolerant(input: &[u8], at_eof: bool, out: &mut Fields) -> Scan {
    out.clear();
    let (line_len, end) = match memchr::memchr2(b'\n', b'\r', input) {
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
                    out.push_span(i + 1, q);
                    if q + 1 == n {
                        break;
                    }
                    i = q + 2;
                }
                None => {
                    out.push_span(i + 1, n);
                    break;
                }
            }
        } else {
            match memchr(b',', &line[i..]) {
                None => {
                    out.push_span(i, n);
                    break;
                }
                Some(k) => {
                    out.push_span(i, i + k);
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
    use crate::testing::{each_string, XorShift};

    #[derive(Clone, Copy, Debug)]
    enum Pass {
        Strict,
        Tolerant,
    }

    fn run(pass: Pass, input: &[u8], at_eof: bool) -> (Scan, Vec<Vec<u8>>) {
        let mut f = Fields::default();
        // A dirty buffer first: each pass must clear it.
        f.buf.extend_from_slice(b"stale");
        f.push_owned(0);
        let scan = match pass {
            Pass::Strict => strict(input, at_eof, &mut f),
            Pass::Tolerant => tolerant(input, at_eof, &mut f),
        };
        (scan, f.row(input).iter().map(<[u8]>::to_vec).collect())
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

    /// The strict pass as it was first written (field by field with memchr, every field copied): the
    /// block-mask scanner must agree with it on every input.
    fn strict_reference(input: &[u8], at_eof: bool) -> (Scan, Vec<Vec<u8>>) {
        let mut out: Vec<Vec<u8>> = Vec::new();
        let n = input.len();
        let mut i = 0;
        loop {
            if i < n && input[i] == b'"' {
                let mut field = Vec::new();
                let mut j = i + 1;
                loop {
                    let Some(k) = memchr(b'"', &input[j..]) else {
                        if !at_eof {
                            return (Scan::Incomplete, out);
                        }
                        field.extend_from_slice(&input[j..]);
                        out.push(field);
                        return (Scan::Complete { end: n, irregular: true }, out);
                    };
                    let q = j + k;
                    field.extend_from_slice(&input[j..q]);
                    match input.get(q + 1) {
                        Some(b'"') => {
                            field.push(b'"');
                            j = q + 2;
                        }
                        Some(b',') => {
                            out.push(field);
                            i = q + 2;
                            break;
                        }
                        Some(b'\n' | b'\r') => {
                            return match break_end(input, q + 1, at_eof) {
                                Some(end) => {
                                    out.push(field);
                                    (Scan::Complete { end, irregular: false }, out)
                                }
                                None => (Scan::Incomplete, out),
                            };
                        }
                        Some(_) => {
                            out.push(field);
                            return (Scan::Complete { end: q + 1, irregular: true }, out);
                        }
                        None if at_eof => {
                            out.push(field);
                            return (Scan::Complete { end: n, irregular: false }, out);
                        }
                        None => return (Scan::Incomplete, out),
                    }
                }
            } else {
                match memchr::memchr3(b',', b'\n', b'\r', &input[i..]) {
                    None => {
                        if !at_eof {
                            return (Scan::Incomplete, out);
                        }
                        out.push(input[i..].to_vec());
                        return (Scan::Complete { end: n, irregular: false }, out);
                    }
                    Some(k) => {
                        let p = i + k;
                        if input[p] == b',' {
                            out.push(input[i..p].to_vec());
                            i = p + 1;
                        } else {
                            let Some(end) = break_end(input, p, at_eof) else {
                                return (Scan::Incomplete, out);
                            };
                            out.push(input[i..p].to_vec());
                            return (Scan::Complete { end, irregular: false }, out);
                        }
                    }
                }
            }
        }
    }

    /// Random records of every length around the 64-byte blocks agree with the reference pass.
    #[test]
    fn strict_agrees_with_the_reference_on_long_records() {
        let mut rng = XorShift(0x2545_F491_4F6C_DD1Du64);
        let mut next = move |n: u64| rng.below(n);
        const PIECES: &[&[u8]] = &[b"a", b"xyz", b",", b"\"", b"\"\"", b"\",\"", b"\r", b"\n", b"\r\n", b"\xc3\xa9", b"          "];
        let mut f = Fields::default();
        for _ in 0..20_000 {
            let mut input = Vec::new();
            let target = next(300);
            while input.len() < target {
                // Mostly plain bytes, so fields get long and cross block boundaries.
                let piece = if next(4) == 0 { PIECES[next(PIECES.len() as u64)] } else { &b"abcdefgh"[..1 + next(8)] };
                input.extend_from_slice(piece);
            }
            for at_eof in [true, false] {
                let want = strict_reference(&input, at_eof);
                let got = strict(&input, at_eof, &mut f);
                assert_eq!(got, want.0, "{:?} at_eof={at_eof}", String::from_utf8_lossy(&input));
                if let Scan::Complete { end, irregular: false } = got {
                    let fields: Vec<Vec<u8>> = f.row(&input).iter().map(<[u8]>::to_vec).collect();
                    assert_eq!(fields, want.1, "{:?}", String::from_utf8_lossy(&input));
                    // The ASCII shortcut gives the same text as the checked path.
                    let checked = f.row(&input[..end]).text().map(|t| (0..f.len()).map(|i| t.get(i).to_string()).collect::<Vec<_>>());
                    let scanned = f.scanned_row(&input[..end]).text().map(|t| (0..f.len()).map(|i| t.get(i).to_string()).collect::<Vec<_>>());
                    assert_eq!(scanned, checked);
                }
                // Every prefix too (the streaming reader retries with more bytes).
                let cut = next(input.len() as u64 + 1);
                let want = strict_reference(&input[..cut], false);
                assert_eq!(strict(&input[..cut], false, &mut f), want.0);
            }
        }
    }

    /// Records shaped like the feed's (quoted and plain fields, some with commas, line breaks, `""`, stray
    /// quotes or non-ASCII bytes, across block boundaries) agree with the reference; the clean ones take
    /// the fast path.
    #[test]
    fn records_of_fields_agree_with_the_reference() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15u64);
        let mut next = move |n: u64| rng.below(n);
        const BITS: &[&[u8]] = &[b"a", b"xyz", b",", b"\n", b"\r\n", b"\xc3\xa9", b"  ", b"\"\"", b"\""];
        let mut f = Fields::default();
        let mut fast = 0;
        for _ in 0..20_000 {
            let mut input = Vec::new();
            let mut clean = true;
            for k in 0..1 + next(12) {
                if k > 0 {
                    input.push(b',');
                }
                let quoted = next(3) > 0;
                let mut body = Vec::new();
                for _ in 0..next(40) {
                    // Mostly letters; in a quoted field any bit; in a plain one no comma, break or quote.
                    let bit = if next(3) > 0 { &b"abcdefgh"[..1 + next(8)] } else { BITS[next(BITS.len() as u64)] };
                    if !quoted && bit.iter().any(|b| matches!(b, b',' | b'\n' | b'\r' | b'"')) && next(8) > 0 {
                        continue;
                    }
                    clean &= !bit.contains(&b'"');
                    body.extend_from_slice(bit);
                }
                if quoted {
                    input.push(b'"');
                    input.extend_from_slice(&body);
                    input.push(b'"');
                } else {
                    input.extend_from_slice(&body);
                }
            }
            input.extend_from_slice([&b"\n"[..], b"\r\n", b"\r"][next(3)]);
            input.extend_from_slice(b"next");
            for at_eof in [true, false] {
                let want = strict_reference(&input, at_eof);
                let got = strict(&input, at_eof, &mut f);
                assert_eq!(got, want.0, "{:?} at_eof={at_eof}", String::from_utf8_lossy(&input));
                if let Scan::Complete { irregular: false, .. } = got {
                    let fields: Vec<Vec<u8>> = f.row(&input).iter().map(<[u8]>::to_vec).collect();
                    assert_eq!(fields, want.1, "{:?}", String::from_utf8_lossy(&input));
                }
            }
            fast += usize::from(clean && whole::scan(&input, &mut f).is_some());
        }
        assert!(fast > 1_000, "only {fast} records took the fast path");
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_and_sse2_masks_agree() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
        for _ in 0..10_000 {
            let mut block = [0u8; 64];
            for b in &mut block {
                let state = rng.next();
                *b = match state % 8 {
                    0 => b'"',
                    1 => b',',
                    2 => b'\n',
                    3 => b'\r',
                    4 => (state >> 8) as u8,
                    _ => b'a',
                };
            }
            // SAFETY: AVX2 is present (checked above).
            assert_eq!(unsafe { masks64_avx2(&block) }, masks64_sse2(&block));
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
        let mut f = Fields::default();
        each_string(b"a,\"\r\n", 7, |input| {
            for at_eof in [false, true] {
                for pass in [strict, tolerant] {
                    match pass(input, at_eof, &mut f) {
                        Scan::Incomplete => assert!(!at_eof, "{input:?}"),
                        Scan::Complete { end, .. } => {
                            assert!(end <= input.len(), "{input:?}");
                            assert!(!f.is_empty(), "{input:?}");
                            assert!(f.total_bytes() <= input.len(), "{input:?}");
                            let row = f.row(input);
                            assert_eq!(row.iter().map(<[u8]>::len).sum::<usize>(), f.total_bytes(), "{input:?}");
                        }
                    }
                }
            }
        });
    }
}
