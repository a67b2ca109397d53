//! The Copart CSV dialect on a byte slice (docs/normalization.md §1): a strict RFC 4180 pass and the
//! tolerant pass for unescaped quotes. No I/O here; [`crate::records`] feeds it.

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
}

/// How far a pass got from the start of its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// The record ended; `end` is the index just past its line break (or the input's length at EOF).
    /// `irregular` only in the strict pass: see the rules.
    Complete { end: usize, irregular: bool },
    /// The input ended mid-record and `at_eof` was false: call again with more bytes.
    Incomplete,
}

/// The strict RFC 4180 pass over one record starting at `input[0]`; fields go to `out` (cleared first).
pub fn strict(input: &[u8], at_eof: bool, out: &mut Fields) -> Scan {
    let _ = (input, at_eof, out);
    todo!()
}

/// The tolerant pass (a quote closes a quoted field only before `,`, a line break or EOF; a line break
/// always ends the record); fields go to `out` (cleared first).
pub fn tolerant(input: &[u8], at_eof: bool, out: &mut Fields) -> Scan {
    let _ = (input, at_eof, out);
    todo!()
}
