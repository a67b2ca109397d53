//! Streaming records from any reader: buffering, BOM, blank lines, the strict → tolerant fallback,
//! the record-length cap, row and line numbers, and the SHA-256 and byte count of everything read.
//!
//! Memory is bounded: one buffer of [`MAX_RECORD`] + 2 + 1 MiB bytes, reused. A record is parsed from a
//! window of at most `MAX_RECORD + 2` bytes (the cap plus a `\r\n`). The strict pass must end the record
//! within [`MAX_RECORD`] bytes (line break excluded); if it cannot, the record is treated as irregular
//! (as if the input ended inside a quoted field) and the tolerant pass decides, whose record is one
//! physical line. So a record is too long exactly when it falls to the tolerant pass and its line is
//! longer than [`MAX_RECORD`]; then the first [`MAX_RECORD`] bytes are reported and reading resumes
//! after the line's break, the rest of the line being read and hashed but not buffered.

use std::io::{self, Read};
use std::ops::Range;
use std::sync::Arc;

use memchr::{memchr2, memchr2_iter};
use sha2::{Digest, Sha256};

use crate::dialect::{self, Fields, Row, Scan};

/// Longest record accepted; longer ones are quarantined (docs/normalization.md §1).
pub const MAX_RECORD: usize = 1 << 20;

/// Bytes asked of the reader per read call, about.
const CHUNK: usize = 1 << 20;
/// The most a record (with its line break) may occupy.
const WINDOW: usize = MAX_RECORD + 2;
/// Buffer size: room for a pending partial record plus a chunk.
const CAP: usize = WINDOW + CHUNK;
const BOM: &[u8] = b"\xEF\xBB\xBF";

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
    /// `raw`: the record's bytes without its line break.
    Record { fields: Row<'a>, raw: &'a [u8], row: u64, line: u64, quote_repaired: bool },
    Bad { raw: &'a [u8], row: u64, line: u64, reason: BadRecord },
}

/// What the bytes at the read position are (no borrows, so the caller can then refill or answer).
enum Step {
    NeedMore,
    Blank { len: usize },
    Row { end: usize, repaired: bool },
    Count { end: usize, raw_len: usize, found: usize },
    TooLong,
}

/// The records of one input, in order (docs/normalization.md §1). Every record after the header comes
/// out as exactly one [`Event`]; blank lines are skipped.
pub struct RecordReader<R: Read> {
    inner: R,
    /// `buf[start..end]` is read but not consumed; `buf.len()` is fixed (allocated on first fill). Shared
    /// with the hashing thread, which reads the bytes just read from it (see [`Hasher`]).
    buf: Arc<Vec<u8>>,
    start: usize,
    end: usize,
    eof: bool,
    bom_checked: bool,
    /// After a too-long record: discard through the next line break.
    skipping: bool,
    finished: bool,
    fields: Fields,
    expected: Option<usize>,
    next_row: u64,
    next_line: u64,
    bytes_read: u64,
    hasher: Hasher,
    digest: Option<String>,
}

/// Bytes after which the SHA-256 moves to a thread of its own (when the process may use more than one
/// core): small inputs never start one.
const HASH_THREAD_AFTER: u64 = 2 << 20;
/// Room in the channel to the hashing thread (the reader waits for the thread before refilling its
/// buffer, so at most one range is in flight).
const HASH_QUEUE: usize = 4;

/// The SHA-256 of everything read: computed inline, or (for a long input on a machine with a spare core)
/// by a thread, so it runs beside the parsing. The thread is handed the read buffer itself (shared, not
/// copied) with the range just read, and the reader waits for it to let go before refilling the buffer.
/// Both give the same digest.
enum Hasher {
    Inline(Sha256),
    Thread {
        chunks: std::sync::mpsc::SyncSender<(Arc<Vec<u8>>, Range<usize>)>,
        /// One message each time the thread has hashed a range and dropped its share of the buffer.
        hashed: std::sync::mpsc::Receiver<()>,
        done: std::thread::JoinHandle<Sha256>,
    },
}

impl Hasher {
    /// Hashes `buf[range]`, or hands it to the thread.
    fn update(&mut self, buf: &Arc<Vec<u8>>, range: Range<usize>) {
        match self {
            Hasher::Inline(h) => h.update(&buf[range]),
            Hasher::Thread { chunks, .. } => {
                // The thread only stops when this side hangs up, so the send cannot fail.
                chunks.send((Arc::clone(buf), range)).expect("the hashing thread runs until the reader is done");
            }
        }
    }

    /// Waits until the thread has let go of `buf`, so it can be written again.
    fn release(&mut self, buf: &Arc<Vec<u8>>) {
        if let Hasher::Thread { hashed, .. } = self {
            while Arc::strong_count(buf) > 1 {
                // Each message follows a drop; a stale one only makes the loop check again.
                hashed.recv().expect("the hashing thread runs until the reader is done");
            }
        }
    }

    /// Moves the hashing to a thread, if there is a spare core and a thread can be started.
    fn go_parallel(&mut self) {
        let Hasher::Inline(h) = self else { return };
        if std::thread::available_parallelism().map_or(true, |n| n.get() < 2) {
            return;
        }
        let mut state = h.clone();
        let (chunks, rx) = std::sync::mpsc::sync_channel::<(Arc<Vec<u8>>, Range<usize>)>(HASH_QUEUE);
        let (back, hashed) = std::sync::mpsc::channel::<()>();
        let started = std::thread::Builder::new().name("vinops-sha256".into()).spawn(move || {
            for (buf, range) in rx {
                state.update(&buf[range]);
                drop(buf);
                let _ = back.send(());
            }
            state
        });
        if let Ok(done) = started {
            *self = Hasher::Thread { chunks, hashed, done };
        }
    }

    fn finish(self) -> sha2::digest::Output<Sha256> {
        match self {
            Hasher::Inline(h) => h.finalize(),
            Hasher::Thread { chunks, done, .. } => {
                drop(chunks);
                done.join().expect("the hashing thread does not panic").finalize()
            }
        }
    }
}

/// Length of the line break at `bytes[p]` (`\r`, `\n` or `\r\n`), None if it is a `\r` at the end of
/// `bytes` and more may follow.
fn break_len(bytes: &[u8], p: usize, eof: bool) -> Option<usize> {
    match (bytes[p], bytes.get(p + 1)) {
        (b'\r', Some(b'\n')) => Some(2),
        (b'\r', None) if !eof => None,
        _ => Some(1),
    }
}

/// Line breaks in `bytes` (`\r\n` counts once). A record never starts with the `\n` of a `\r\n`.
fn count_breaks(bytes: &[u8]) -> u64 {
    let mut n = 0;
    for p in memchr2_iter(b'\n', b'\r', bytes) {
        if bytes[p] == b'\r' || p == 0 || bytes[p - 1] != b'\r' {
            n += 1;
        }
    }
    n
}

impl<R: Read> RecordReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            buf: Arc::new(Vec::new()),
            start: 0,
            end: 0,
            eof: false,
            bom_checked: false,
            skipping: false,
            finished: false,
            fields: Fields::default(),
            expected: None,
            next_row: 0,
            next_line: 1,
            bytes_read: 0,
            hasher: Hasher::Inline(Sha256::new()),
            digest: None,
        }
    }

    /// The field count every later record must have (set after reading the header). Until it is set,
    /// any count is accepted (irregular records still take the tolerant pass).
    pub fn set_expected_fields(&mut self, n: usize) {
        self.expected = Some(n);
    }

    /// The next record, or None at the end of the input (and after [`Self::finish_sha256`]).
    ///
    /// # Errors
    /// Only the reader's (`Interrupted` is retried); calling again after one resumes where it stopped.
    pub fn next_event(&mut self) -> io::Result<Option<Event<'_>>> {
        if self.finished {
            return Ok(None);
        }
        loop {
            if self.skipping {
                self.skip_rest()?;
            }
            if self.start == self.end {
                if self.eof {
                    return Ok(None);
                }
                self.fill()?;
                continue;
            }
            if !self.bom_checked {
                if self.end - self.start < BOM.len() && !self.eof {
                    self.fill()?;
                    continue;
                }
                self.bom_checked = true;
                if self.buf[self.start..self.end].starts_with(BOM) {
                    self.start += BOM.len();
                }
                continue;
            }
            let rec = self.start;
            match self.classify() {
                Step::NeedMore => {
                    if self.eof {
                        // Unreachable by construction; refuse rather than spin.
                        return Err(io::Error::other("vinops_core::records: no progress at end of input"));
                    }
                    self.fill()?;
                }
                Step::Blank { len } => {
                    self.start += len;
                    self.next_line += 1;
                }
                Step::Row { end, repaired } => {
                    self.start += end;
                    // The strict pass knows when a record is one line: no need to count its breaks.
                    let breaks = if self.fields.one_line() { 1 } else { count_breaks(&self.buf[rec..rec + end]) };
                    let (row, line) = self.advance(breaks);
                    let raw_len = dialect::content_len(&self.buf[rec..rec + end], end);
                    return Ok(Some(Event::Record {
                        // `classify` just ran the pass on `buf[rec..]`, unchanged since.
                        fields: self.fields.scanned_row(&self.buf[rec..rec + end]),
                        raw: &self.buf[rec..rec + raw_len],
                        row,
                        line,
                        quote_repaired: repaired,
                    }));
                }
                Step::Count { end, raw_len, found } => {
                    self.start += end;
                    let (row, line) = self.advance(count_breaks(&self.buf[rec..rec + end]));
                    let expected = self.expected.unwrap_or(found);
                    return Ok(Some(Event::Bad {
                        raw: &self.buf[rec..rec + raw_len],
                        row,
                        line,
                        reason: BadRecord::FieldCount { expected, found },
                    }));
                }
                Step::TooLong => {
                    self.start += MAX_RECORD;
                    self.skipping = true;
                    let (row, line) = self.advance(count_breaks(&self.buf[rec..rec + MAX_RECORD]));
                    return Ok(Some(Event::Bad {
                        raw: &self.buf[rec..rec + MAX_RECORD],
                        row,
                        line,
                        reason: BadRecord::TooLong,
                    }));
                }
            }
        }
    }

    /// Bytes read from the input so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Lower-case hex SHA-256 of every byte of the input; reads whatever is left first. After this,
    /// [`Self::next_event`] answers None; calling it again returns the same digest.
    ///
    /// # Errors
    /// The reader's, while reading the rest.
    pub fn finish_sha256(&mut self) -> io::Result<String> {
        if let Some(d) = &self.digest {
            return Ok(d.clone());
        }
        self.finished = true;
        // What is still buffered was hashed when read; reuse the buffer to drain the rest.
        self.start = 0;
        self.end = 0;
        while !self.eof {
            self.fill()?;
            self.start = 0;
            self.end = 0;
        }
        let digest = std::mem::replace(&mut self.hasher, Hasher::Inline(Sha256::new())).finish();
        let mut hex = String::with_capacity(64);
        for b in digest {
            hex.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
            hex.push(char::from_digit(u32::from(b & 15), 16).unwrap_or('0'));
        }
        self.digest = Some(hex.clone());
        Ok(hex)
    }

    /// Row and line numbers of a record that holds `breaks` line breaks, and move both counters past it.
    fn advance(&mut self, breaks: u64) -> (u64, u64) {
        let row = self.next_row;
        let line = self.next_line;
        self.next_row += 1;
        self.next_line += breaks;
        (row, line)
    }

    /// Decide what the bytes at `start` are (there is at least one).
    fn classify(&mut self) -> Step {
        let avail = &self.buf[self.start..self.end];
        if matches!(avail[0], b'\n' | b'\r') {
            return match break_len(avail, 0, self.eof) {
                Some(len) => Step::Blank { len },
                None => Step::NeedMore,
            };
        }
        let win = &avail[..avail.len().min(WINDOW)];
        let capped = win.len() == WINDOW && (avail.len() > WINDOW || !self.eof);
        let at_eof = self.eof && !capped;
        match dialect::strict(win, at_eof, &mut self.fields) {
            Scan::Incomplete if !capped => return Step::NeedMore,
            Scan::Complete { end, irregular: false }
                if dialect::content_len(win, end) <= MAX_RECORD
                    && self.expected.is_none_or(|n| n == self.fields.len()) =>
            {
                return Step::Row { end, repaired: false };
            }
            // Irregular, the wrong field count, or no end within the cap (treated like the input
            // ending inside a quoted field): the tolerant pass decides.
            _ => {}
        }
        match dialect::tolerant(win, at_eof, &mut self.fields) {
            Scan::Incomplete if capped => Step::TooLong,
            Scan::Incomplete => Step::NeedMore,
            Scan::Complete { end, .. } => {
                let raw_len = dialect::content_len(win, end);
                if raw_len > MAX_RECORD {
                    return Step::TooLong;
                }
                match self.expected {
                    Some(n) if n != self.fields.len() => Step::Count { end, raw_len, found: self.fields.len() },
                    _ => Step::Row { end, repaired: true },
                }
            }
        }
    }

    /// After a too-long record: drop bytes through the next line break (without buffering them). The
    /// record's first MAX_RECORD bytes hold no line break (its line is longer), so the break ending it
    /// is the next one.
    fn skip_rest(&mut self) -> io::Result<()> {
        loop {
            let avail = &self.buf[self.start..self.end];
            if avail.is_empty() {
                if self.eof {
                    break;
                }
                self.fill()?;
                continue;
            }
            match memchr2(b'\n', b'\r', avail) {
                None => self.start = self.end,
                Some(p) => match break_len(avail, p, self.eof) {
                    Some(len) => {
                        self.next_line += 1;
                        self.start += p + len;
                        break;
                    }
                    None => {
                        // A `\r` ends the buffer: keep it and see what follows.
                        self.start += p;
                        self.fill()?;
                    }
                },
            }
        }
        self.skipping = false;
        Ok(())
    }

    /// Read more: keep the unconsumed bytes (moved to the front), then read until the buffer is full
    /// or the input ends. Every byte read is hashed and counted here.
    fn fill(&mut self) -> io::Result<()> {
        if self.eof {
            return Ok(());
        }
        if self.buf.is_empty() {
            self.buf = Arc::new(vec![0; CAP]);
        }
        self.hasher.release(&self.buf);
        let buf = Arc::get_mut(&mut self.buf).expect("the hashing thread has let go of the buffer");
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 {
            buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let first = self.end;
        let mut result = Ok(());
        while self.end < buf.len() {
            let room = &mut buf[self.end..];
            match self.inner.read(room) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => {
                    self.end += n.min(room.len());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        // Everything read is hashed and counted, also before an error.
        if self.end > first {
            self.hasher.update(&self.buf, first..self.end);
            self.bytes_read += (self.end - first) as u64;
            if self.bytes_read >= HASH_THREAD_AFTER {
                self.hasher.go_parallel();
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::XorShift;

    /// A reader that hands out 1–7 bytes per call (and an occasional `Interrupted`), so records cross
    /// every possible read boundary.
    struct Dribble<'a> {
        data: &'a [u8],
        calls: usize,
    }

    impl Read for Dribble<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls % 13 == 0 {
                return Err(io::Error::from(io::ErrorKind::Interrupted));
            }
            let n = (self.calls % 7 + 1).min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[derive(Clone, PartialEq, Eq)]
    enum Ev {
        Rec { fields: Vec<Vec<u8>>, row: u64, line: u64, repaired: bool },
        Bad { raw: Vec<u8>, row: u64, line: u64, reason: BadRecord },
    }

    /// Bytes as text, long runs shortened (a failing 1 MiB record must not flood the output).
    fn show(b: &[u8]) -> String {
        if b.len() <= 60 {
            format!("{:?}", String::from_utf8_lossy(b))
        } else {
            let tail = &b[b.len() - 20..];
            format!("{:?}..({} bytes)..{:?}", String::from_utf8_lossy(&b[..30]), b.len(), String::from_utf8_lossy(tail))
        }
    }

    impl std::fmt::Debug for Ev {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                Ev::Rec { fields, row, line, repaired } => {
                    let fields: Vec<String> = fields.iter().map(|x| show(x)).collect();
                    write!(f, "Rec(row {row}, line {line}, repaired {repaired}, [{}])", fields.join(", "))
                }
                Ev::Bad { raw, row, line, reason } => write!(f, "Bad(row {row}, line {line}, {reason:?}, {})", show(raw)),
            }
        }
    }

    #[derive(Clone, Copy)]
    enum Expect {
        Any,
        /// Set to the header's field count after the first record.
        FromHeader,
    }

    fn drain<R: Read>(mut rr: RecordReader<R>, expect: Expect) -> (Vec<Ev>, String, u64) {
        let mut out = Vec::new();
        while let Some(ev) = rr.next_event().unwrap() {
            let (ev, header_len) = match ev {
                Event::Record { fields, row, line, quote_repaired, .. } => {
                    let fields: Vec<Vec<u8>> = fields.iter().map(<[u8]>::to_vec).collect();
                    let n = fields.len();
                    (Ev::Rec { fields, row, line, repaired: quote_repaired }, Some(n))
                }
                Event::Bad { raw, row, line, reason } => (Ev::Bad { raw: raw.to_vec(), row, line, reason }, None),
            };
            if out.is_empty() && matches!(expect, Expect::FromHeader) {
                rr.set_expected_fields(header_len.unwrap_or(0));
            }
            out.push(ev);
        }
        let n = rr.bytes_read();
        (out, rr.finish_sha256().unwrap(), n)
    }

    /// Read `input` whole and in dribbles; both must agree.
    fn events(input: &[u8], expect: Expect) -> Vec<Ev> {
        let (whole, sha_whole, n_whole) = drain(RecordReader::new(input), expect);
        let (dribbled, sha_dribbled, n_dribbled) = drain(RecordReader::new(Dribble { data: input, calls: 0 }), expect);
        assert_eq!(whole, dribbled, "whole vs dribbled reads of {:?}", String::from_utf8_lossy(input));
        assert_eq!(sha_whole, sha_dribbled);
        assert_eq!(n_whole, input.len() as u64);
        assert_eq!(n_dribbled, input.len() as u64);
        whole
    }

    fn rec(fields: &[&[u8]], row: u64, line: u64, repaired: bool) -> Ev {
        Ev::Rec { fields: fields.iter().map(|f| f.to_vec()).collect(), row, line, repaired }
    }
    fn bad(raw: &[u8], row: u64, line: u64, expected: usize, found: usize) -> Ev {
        Ev::Bad { raw: raw.to_vec(), row, line, reason: BadRecord::FieldCount { expected, found } }
    }

    #[test]
    fn table() {
        let cases: Vec<(&str, &[u8], Expect, Vec<Ev>)> = vec![
            ("empty input", b"", Expect::Any, vec![]),
            ("only blank lines", b"\n\r\n\r\n\n\r", Expect::Any, vec![]),
            ("only a BOM", b"\xEF\xBB\xBF", Expect::Any, vec![]),
            (
                "LF, quoted and unquoted",
                b"\"a\",\"b\"\n1,\"x\"\n",
                Expect::FromHeader,
                vec![rec(&[b"a", b"b"], 0, 1, false), rec(&[b"1", b"x"], 1, 2, false)],
            ),
            (
                "CRLF and no line break at the end",
                b"a,b\r\n1,2\r\n3,4",
                Expect::FromHeader,
                vec![rec(&[b"a", b"b"], 0, 1, false), rec(&[b"1", b"2"], 1, 2, false), rec(&[b"3", b"4"], 2, 3, false)],
            ),
            (
                "lone CR",
                b"a,b\r1,2\r3,4\r",
                Expect::FromHeader,
                vec![rec(&[b"a", b"b"], 0, 1, false), rec(&[b"1", b"2"], 1, 2, false), rec(&[b"3", b"4"], 2, 3, false)],
            ),
            (
                "BOM, blank lines count as lines but not rows",
                b"\xEF\xBB\xBFa,b\n\n\r\n1,2\r\r\n3,4\n\n",
                Expect::FromHeader,
                vec![rec(&[b"a", b"b"], 0, 1, false), rec(&[b"1", b"2"], 1, 4, false), rec(&[b"3", b"4"], 2, 6, false)],
            ),
            (
                "a BOM later is data",
                b"a\n\xEF\xBB\xBFb\n",
                Expect::Any,
                vec![rec(&[b"a"], 0, 1, false), rec(&[b"\xEF\xBB\xBFb"], 1, 2, false)],
            ),
            (
                "empty fields and a quoted empty field",
                b"a,b,c\n,,\n\"\",\"\",\"\"\n",
                Expect::FromHeader,
                vec![
                    rec(&[b"a", b"b", b"c"], 0, 1, false),
                    rec(&[b"", b"", b""], 1, 2, false),
                    rec(&[b"", b"", b""], 2, 3, false),
                ],
            ),
            (
                "escaped quotes, commas and line breaks inside quotes advance the line",
                b"a,b\n\"x\"\"y\",\"1,2\"\n\"l1\nl2\r\nl3\rl4\",z\n5,6\n",
                Expect::FromHeader,
                vec![
                    rec(&[b"a", b"b"], 0, 1, false),
                    rec(&[b"x\"y", b"1,2"], 1, 2, false),
                    rec(&[b"l1\nl2\r\nl3\rl4", b"z"], 2, 3, false),
                    rec(&[b"5", b"6"], 3, 7, false),
                ],
            ),
            (
                "Copart unescaped quotes are repaired",
                b"\"Model\",\"Detail\",\"Color\"\n\"SUMMIT 850 X 165\"\",\"\",\"BLUE\"\n\"X\",\"113\" SLEEPER CAB\",\"RED\"\r\n",
                Expect::FromHeader,
                vec![
                    rec(&[b"Model", b"Detail", b"Color"], 0, 1, false),
                    rec(&[b"SUMMIT 850 X 165\"", b"", b"BLUE"], 1, 2, true),
                    rec(&[b"X", b"113\" SLEEPER CAB", b"RED"], 2, 3, true),
                ],
            ),
            (
                "quote at field end before CRLF, at EOF",
                b"a,b\r\n1,\"x\"\r\n2,\"y\"",
                Expect::FromHeader,
                vec![rec(&[b"a", b"b"], 0, 1, false), rec(&[b"1", b"x"], 1, 2, false), rec(&[b"2", b"y"], 2, 3, false)],
            ),
            (
                "regular but wrong count: the tolerant pass ends at the line break",
                b"a,b\n\"x\ny\"\n1,2\n",
                Expect::FromHeader,
                vec![rec(&[b"a", b"b"], 0, 1, false), bad(b"\"x", 1, 2, 2, 1), bad(b"y\"", 2, 3, 2, 1), rec(&[b"1", b"2"], 3, 4, false)],
            ),
            (
                "field count mismatch in both passes",
                b"a,b,c\r\n1,2\r\n1,2,3,4\r\n\"q\"x,2,3\r\n\"q\"x\",2,3\r\n7,8,9",
                Expect::FromHeader,
                vec![
                    rec(&[b"a", b"b", b"c"], 0, 1, false),
                    bad(b"1,2", 1, 2, 3, 2),
                    bad(b"1,2,3,4", 2, 3, 3, 4),
                    bad(b"\"q\"x,2,3", 3, 4, 3, 1),
                    rec(&[b"q\"x", b"2", b"3"], 4, 5, true),
                    rec(&[b"7", b"8", b"9"], 5, 6, false),
                ],
            ),
            (
                "a wrong count passes when no count is expected",
                b"a,b,c\n1,2\n",
                Expect::Any,
                vec![rec(&[b"a", b"b", b"c"], 0, 1, false), rec(&[b"1", b"2"], 1, 2, false)],
            ),
            (
                "unterminated quote at EOF",
                b"a,b\n1,\"open\n3,4\n",
                Expect::FromHeader,
                vec![rec(&[b"a", b"b"], 0, 1, false), rec(&[b"1", b"open"], 1, 2, true), rec(&[b"3", b"4"], 2, 3, false)],
            ),
            (
                "unterminated quote at EOF without a line break",
                b"a,b\n1,\"open",
                Expect::FromHeader,
                vec![rec(&[b"a", b"b"], 0, 1, false), rec(&[b"1", b"open"], 1, 2, true)],
            ),
            (
                "irregular header takes the tolerant pass",
                b"\"a\"b\",c\n1,2\n",
                Expect::FromHeader,
                vec![rec(&[b"a\"b", b"c"], 0, 1, true), rec(&[b"1", b"2"], 1, 2, false)],
            ),
            (
                "invalid UTF-8 passes through",
                b"\xff,\"\xfe\xc3\"\n",
                Expect::Any,
                vec![rec(&[b"\xff", b"\xfe\xc3"], 0, 1, false)],
            ),
        ];
        for (name, input, expect, want) in cases {
            assert_eq!(events(input, expect), want, "{name}");
        }
    }

    #[test]
    fn sha256_and_byte_count_of_a_known_input() {
        // `printf '\xef\xbb\xbf"h1","h2"\n"x",1\n\n"y\n2",2\r\n' | sha256sum`
        let input = b"\xef\xbb\xbf\"h1\",\"h2\"\n\"x\",1\n\n\"y\n2\",2\r\n";
        let want = "14fb39efa96d3b12e0c600d23904bea1da4aa49a4114d897a8a4a7205406454c";
        let (evs, sha, n) = drain(RecordReader::new(Dribble { data: input, calls: 0 }), Expect::FromHeader);
        assert_eq!(sha, want);
        assert_eq!(n, input.len() as u64);
        assert_eq!(evs.len(), 3);
        // `printf 'a,b\r\n1,2\r\n' | sha256sum`; the caller stops after the header: the rest is read.
        let mut rr = RecordReader::new(Dribble { data: b"a,b\r\n1,2\r\n", calls: 0 });
        assert!(rr.next_event().unwrap().is_some());
        assert_eq!(rr.finish_sha256().unwrap(), "ea14f99c47575613ab22111122c847728c61007f6bfd7b062d02fcb99df3feb0");
        assert_eq!(rr.bytes_read(), 10);
        assert!(rr.next_event().unwrap().is_none());
        assert_eq!(rr.finish_sha256().unwrap(), "ea14f99c47575613ab22111122c847728c61007f6bfd7b062d02fcb99df3feb0");
        // Nothing read at all.
        let mut rr = RecordReader::new(&b""[..]);
        assert_eq!(rr.finish_sha256().unwrap(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn sha256_of_a_long_input_matches_with_the_hashing_thread() {
        // Over HASH_THREAD_AFTER, so the hash moves to its thread (on a machine with two cores).
        let mut input = b"a,b\n".to_vec();
        let mut i = 0u64;
        while input.len() < (HASH_THREAD_AFTER as usize) * 2 + 12_345 {
            input.extend_from_slice(format!("{i},\"x{}\"\r\n", i * 7919 % 1000).as_bytes());
            i += 1;
        }
        let want: String = Sha256::digest(&input).iter().map(|b| format!("{b:02x}")).collect();
        let mut rr = RecordReader::new(&input[..]);
        let mut rows = 0;
        while rr.next_event().unwrap().is_some() {
            rows += 1;
        }
        assert_eq!(rows, i + 1);
        assert_eq!(rr.finish_sha256().unwrap(), want);
        // Stopping early: the rest is read and hashed by finish_sha256.
        let mut rr = RecordReader::new(&input[..]);
        assert!(rr.next_event().unwrap().is_some());
        assert_eq!(rr.finish_sha256().unwrap(), want);
        assert_eq!(rr.bytes_read(), input.len() as u64);
    }

    fn too_long(raw: &[u8], row: u64, line: u64) -> Ev {
        Ev::Bad { raw: raw.to_vec(), row, line, reason: BadRecord::TooLong }
    }

    #[test]
    fn record_length_cap() {
        let x = |n: usize| vec![b'x'; n];
        let cat = |parts: &[&[u8]]| parts.concat();
        // Exactly MAX_RECORD bytes before `\r\n` is fine.
        let exact = cat(&[&x(MAX_RECORD - 2), b",y"]);
        let input = cat(&[b"a,b\n", &exact, b"\r\n1,2\n"]);
        let mut fields_exact: Vec<&[u8]> = vec![&exact[..MAX_RECORD - 2], b"y"];
        assert_eq!(
            events(&input, Expect::FromHeader),
            vec![rec(&[b"a", b"b"], 0, 1, false), rec(&fields_exact, 1, 2, false), rec(&[b"1", b"2"], 2, 3, false)]
        );
        // Exactly MAX_RECORD bytes, wrong count: quarantined whole.
        fields_exact.clear();
        let input = cat(&[b"a,b\n", &x(MAX_RECORD), b"\n1,2\n"]);
        assert_eq!(
            events(&input, Expect::FromHeader),
            vec![rec(&[b"a", b"b"], 0, 1, false), bad(&x(MAX_RECORD), 1, 2, 2, 1), rec(&[b"1", b"2"], 2, 3, false)]
        );
        // One byte more: too long; reading resumes after the next line break.
        for (name, tail, lines_after) in [
            ("LF", &b"\n"[..], 3),
            ("CRLF", b"\r\n", 3),
            ("CR", b"\r", 3),
            ("long tail", &cat(&[&x(3 * MAX_RECORD), b",z\r\n"]), 3),
            ("tail with a quote", &cat(&[b"\",\"", &x(MAX_RECORD), b"\"\n"]), 3),
        ] {
            let input = cat(&[b"a,b\n", &x(MAX_RECORD + 1), tail, b"1,2\n"]);
            assert_eq!(
                events(&input, Expect::FromHeader),
                vec![rec(&[b"a", b"b"], 0, 1, false), too_long(&x(MAX_RECORD), 1, 2), rec(&[b"1", b"2"], 2, lines_after, false)],
                "{name}"
            );
        }
        // Too long at EOF, and without any line break at all.
        let input = cat(&[b"a,b\n", &x(MAX_RECORD + 5)]);
        assert_eq!(events(&input, Expect::FromHeader), vec![rec(&[b"a", b"b"], 0, 1, false), too_long(&x(MAX_RECORD), 1, 2)]);
        let input = x(2 * MAX_RECORD + 17);
        assert_eq!(events(&input, Expect::Any), vec![too_long(&x(MAX_RECORD), 0, 1)]);
        // A quoted field with line breaks that the strict pass cannot end within the cap: the tolerant
        // pass takes it line by line, and only a line over the cap is too long.
        let long = cat(&[b"\"", &x(10), b"\r\n", &x(MAX_RECORD), b"\",2\n"]);
        let input = cat(&[b"a,b\n", &long, b"1,2\n"]);
        assert_eq!(
            events(&input, Expect::FromHeader),
            vec![
                rec(&[b"a", b"b"], 0, 1, false),
                bad(&long[..11], 1, 2, 2, 1),
                too_long(&x(MAX_RECORD), 2, 3),
                rec(&[b"1", b"2"], 3, 4, false),
            ]
        );
        // Strict-regular, right count, one byte over the cap: too long.
        let input = cat(&[b"a,b\n", &x(MAX_RECORD - 2), b",\"\"\n1,2"]);
        assert_eq!(
            events(&input, Expect::FromHeader),
            vec![
                rec(&[b"a", b"b"], 0, 1, false),
                too_long(&cat(&[&x(MAX_RECORD - 2), b",\""]), 1, 2),
                rec(&[b"1", b"2"], 2, 3, false)
            ]
        );
        // The same with a line break inside the quotes before the cap: split by the tolerant pass.
        let input = cat(&[b"a,b\n\"\n\",", &x(MAX_RECORD), b"\n1,2"]);
        assert_eq!(
            events(&input, Expect::FromHeader),
            vec![
                rec(&[b"a", b"b"], 0, 1, false),
                bad(b"\"", 1, 2, 2, 1),
                too_long(&cat(&[b"\",", &x(MAX_RECORD - 2)]), 2, 3),
                rec(&[b"1", b"2"], 3, 4, false),
            ]
        );
        // A stray opening quote and no closing one for over MAX_RECORD bytes: the strict pass gives up
        // at the cap and the tolerant pass keeps the damage to one line.
        let mut input = b"a,b\n\"stray,1\n".to_vec();
        for _ in 0..(MAX_RECORD / 4 + 10) {
            input.extend_from_slice(b"1,2\n");
        }
        let (evs, _, _) = drain(RecordReader::new(&input[..]), Expect::FromHeader);
        assert_eq!(evs[1], bad(b"\"stray,1", 1, 2, 2, 1));
        assert_eq!(evs.len(), MAX_RECORD / 4 + 12);
        assert_eq!(evs[evs.len() - 1], rec(&[b"1", b"2"], MAX_RECORD as u64 / 4 + 11, MAX_RECORD as u64 / 4 + 12, false));
    }

    /// What Python's `csv.writer` writes (doublequote, QUOTE_MINIMAL or QUOTE_ALL).
    fn write_row(out: &mut Vec<u8>, row: &[Vec<u8>], quote_all: bool, terminator: &[u8]) {
        for (i, f) in row.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let special = f.iter().any(|&b| matches!(b, b',' | b'"' | b'\r' | b'\n'));
            if quote_all || special || (row.len() == 1 && f.is_empty()) {
                out.push(b'"');
                for &b in f {
                    if b == b'"' {
                        out.push(b'"');
                    }
                    out.push(b);
                }
                out.push(b'"');
            } else {
                out.extend_from_slice(f);
            }
        }
        out.extend_from_slice(terminator);
    }

    #[test]
    fn round_trips_what_python_csv_writer_writes() {
        const ALPHABET: &[&[u8]] = &[b"a", b"Z", b" ", b",", b"\"", b"\"\"", b"\r", b"\n", b"\r\n", b"\xc3\xa9", b"\xff", b"\t"];
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for case in 0..400 {
            let quote_all = case % 2 == 1;
            let terminator: &[u8] = if case % 4 < 2 { b"\r\n" } else { b"\n" };
            let width = 1 + rng.below(6);
            let mut rows = Vec::new();
            let mut input = Vec::new();
            let mut lines = Vec::new();
            let mut line = 1u64;
            for _ in 0..1 + rng.below(8) {
                let row: Vec<Vec<u8>> = (0..width)
                    .map(|_| (0..rng.below(6)).flat_map(|_| ALPHABET[rng.below(ALPHABET.len() as u64)].to_vec()).collect())
                    .collect();
                let before = input.len();
                write_row(&mut input, &row, quote_all, terminator);
                lines.push(line);
                line += count_breaks(&input[before..]);
                rows.push(row);
            }
            if rng.below(2) == 0 {
                // The last line break is optional.
                input.truncate(input.len() - terminator.len());
            }
            let want: Vec<Ev> = rows
                .into_iter()
                .zip(lines)
                .enumerate()
                .map(|(i, (fields, line))| Ev::Rec { fields, row: i as u64, line, repaired: false })
                .collect();
            assert_eq!(events(&input, Expect::FromHeader), want, "{:?}", String::from_utf8_lossy(&input));
        }
    }

    #[test]
    fn real_samples_parse_with_the_header_count() {
        // The repository's copy of the real samples (tests/data/copart); a missing file fails the test.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/copart");
        for path in ["raw-excerpt-2020-06-49col.csv", "real-rows-147.csv"] {
            let data = std::fs::read(dir.join(path)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(path).display()));
            let evs = events(&data, Expect::FromHeader);
            assert!(evs.len() > 1, "{path}");
            for ev in &evs {
                assert!(matches!(ev, Ev::Rec { .. }), "{path}: {ev:?}");
            }
        }
    }

    #[test]
    fn count_breaks_counts_crlf_once() {
        for (bytes, want) in [(&b""[..], 0), (b"a\nb\rc\r\nd", 3), (b"\n", 1), (b"\r\r\n\n", 3), (b"\n\r", 2)] {
            assert_eq!(count_breaks(bytes), want, "{bytes:?}");
        }
    }
}
