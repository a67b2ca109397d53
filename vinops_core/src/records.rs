//! Streaming records from any reader: buffering, BOM, blank lines, the strict → tolerant fallback,
//! the record-length cap, row and line numbers, and the SHA-256 and byte count of everything read.

use std::io::Read;

use crate::dialect::Fields;

/// Longest record accepted; longer ones are quarantined (docs/normalization.md §1).
pub const MAX_RECORD: usize = 1 << 20;

/// Why a record could not be read as a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadRecord {
    /// Neither pass gave the expected number of fields; `found` is the tolerant pass's count.
    FieldCount { expected: usize, found: usize },
    TooLong,
}

/// One record. `row` numbers non-blank records from 0 (the header is row 0, so data rows are 1-based);
/// `line` is the 1-based physical line where the record starts.
#[derive(Debug)]
pub enum Event<'a> {
    Record { fields: &'a Fields, row: u64, line: u64, quote_repaired: bool },
    Bad { raw: &'a [u8], row: u64, line: u64, reason: BadRecord },
}

pub struct RecordReader<R: Read> {
    inner: R,
}

impl<R: Read> RecordReader<R> {
    pub fn new(inner: R) -> Self {
        Self { inner }
    }

    /// The field count every later record must have (set after reading the header). Until it is set,
    /// any count is accepted (irregular records still take the tolerant pass).
    pub fn set_expected_fields(&mut self, n: usize) {
        let _ = n;
        todo!()
    }

    /// The next record, or None at the end of the input.
    pub fn next_event(&mut self) -> std::io::Result<Option<Event<'_>>> {
        let _ = &mut self.inner;
        todo!()
    }

    /// Bytes read from the input so far.
    pub fn bytes_read(&self) -> u64 {
        todo!()
    }

    /// Lower-case hex SHA-256 of every byte of the input; reads whatever is left first.
    pub fn finish_sha256(&mut self) -> std::io::Result<String> {
        todo!()
    }
}
