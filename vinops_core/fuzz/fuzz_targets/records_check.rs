//! The invariants the `records` fuzz target asserts (kept apart from the libFuzzer entry point so a
//! plain test harness can drive them too). Any panic is a finding.

use std::io::{self, Read};

use memchr::memmem;
use sha2::{Digest, Sha256};
use vinops_core::dialect::{self, Fields, Scan};
use vinops_core::records::{BadRecord, Event, RecordReader, MAX_RECORD};

/// Hands out at most `step` bytes per call (`step == 0`: everything asked for).
struct Chunked<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut n = out.len().min(self.data.len());
        if self.step > 0 {
            n = n.min(self.step);
        }
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[derive(Clone, Copy)]
enum Expect {
    None,
    FromHeader,
    Fixed(usize),
}

fn hex_sha256(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

fn line_breaks(data: &[u8]) -> u64 {
    let mut n = 0;
    for p in memchr::memchr2_iter(b'\n', b'\r', data) {
        if data[p] == b'\r' || p == 0 || data[p - 1] != b'\r' {
            n += 1;
        }
    }
    n
}

/// Owned copy of the events, to compare runs with different read sizes.
type Seen = Vec<(bool, Vec<Vec<u8>>, u64, u64)>;

fn run_reader(data: &[u8], step: usize, expect: Expect, stop_after: Option<usize>) -> Seen {
    let mut rr = RecordReader::new(Chunked { data, step });
    if let Expect::Fixed(n) = expect {
        rr.set_expected_fields(n);
    }
    let mut expected = match expect {
        Expect::Fixed(n) => Some(n),
        _ => None,
    };
    let max_line = 1 + line_breaks(data);
    let mut seen: Seen = Vec::new();
    let mut last_line = 0u64;
    while let Some(ev) = rr.next_event().expect("reading a slice cannot fail") {
        let (row, line) = match ev {
            Event::Record { fields, row, line, quote_repaired, .. } => {
                assert!(!fields.is_empty(), "a record has at least one field");
                assert!(fields.total_bytes() <= data.len(), "fields larger than the input");
                assert_eq!(fields.iter().map(<[u8]>::len).sum::<usize>(), fields.total_bytes());
                if let Some(n) = expected {
                    assert_eq!(fields.len(), n, "a record with the wrong field count became a row");
                }
                let _ = quote_repaired;
                if seen.is_empty() && matches!(expect, Expect::FromHeader) {
                    expected = Some(fields.len());
                }
                seen.push((true, fields.iter().map(<[u8]>::to_vec).collect(), row, line));
                (row, line)
            }
            Event::Bad { raw, row, line, reason } => {
                assert!(raw.len() <= MAX_RECORD, "raw longer than the cap");
                assert!(memmem::find(data, raw).is_some(), "raw bytes are not from the input");
                match reason {
                    BadRecord::FieldCount { expected: e, found } => {
                        assert_eq!(Some(e), expected, "FieldCount without that expectation");
                        assert_ne!(e, found);
                        assert!(!raw.contains(&b'\n') && !raw.contains(&b'\r'), "tolerant raw spans lines");
                    }
                    BadRecord::TooLong => assert_eq!(raw.len(), MAX_RECORD),
                }
                seen.push((false, vec![raw.to_vec()], row, line));
                (row, line)
            }
        };
        assert_eq!(row, seen.len() as u64 - 1, "rows are numbered 0, 1, 2, ...");
        assert!(line > last_line && line <= max_line, "line {line} after {last_line} (max {max_line})");
        last_line = line;
        if stop_after == Some(seen.len()) {
            break;
        }
        // The header's count applies from the next record on.
        if let (Expect::FromHeader, Some(n), 1) = (expect, expected, seen.len()) {
            rr.set_expected_fields(n);
        }
    }
    if stop_after.is_none() {
        assert!(rr.next_event().expect("again").is_none(), "None is final");
    }
    assert_eq!(rr.finish_sha256().expect("sha"), hex_sha256(data), "sha256");
    assert_eq!(rr.bytes_read(), data.len() as u64);
    assert!(rr.next_event().expect("after finish").is_none());
    seen
}

/// Rows of fields made from the input (`0x00` ends a field, `0x01` a row), written QUOTE_ALL with
/// `""` escapes, must come back exactly, unrepaired.
fn round_trip(data: &[u8]) {
    let rows: Vec<Vec<&[u8]>> = data.split(|&b| b == 1).map(|r| r.split(|&b| b == 0).collect()).collect();
    let mut csv = Vec::new();
    for row in &rows {
        for (i, f) in row.iter().enumerate() {
            if i > 0 {
                csv.push(b',');
            }
            csv.push(b'"');
            for &b in *f {
                if b == b'"' {
                    csv.push(b'"');
                }
                csv.push(b);
            }
            csv.push(b'"');
        }
        csv.extend_from_slice(b"\r\n");
    }
    if csv.len() > MAX_RECORD {
        return; // a record could be over the cap
    }
    let mut rr = RecordReader::new(&csv[..]);
    for row in &rows {
        match rr.next_event().expect("read") {
            Some(Event::Record { fields, quote_repaired: false, .. }) => {
                assert_eq!(fields.iter().collect::<Vec<_>>(), *row, "round trip");
            }
            Some(Event::Record { .. }) => panic!("round trip: a record needed repair"),
            Some(Event::Bad { reason, row, .. }) => panic!("round trip: row {row} is bad: {reason:?}"),
            None => panic!("round trip: records missing"),
        }
    }
    assert!(rr.next_event().expect("read").is_none());
}

fn passes(data: &[u8]) {
    let mut f = Fields::default();
    for at_eof in [false, true] {
        for pass in [dialect::strict, dialect::tolerant] {
            match pass(data, at_eof, &mut f) {
                Scan::Incomplete => assert!(!at_eof, "Incomplete at EOF"),
                Scan::Complete { end, .. } => {
                    assert!(end <= data.len());
                    assert!(!f.is_empty());
                    assert!(f.total_bytes() <= data.len());
                }
            }
        }
    }
}

pub fn check(data: &[u8]) {
    let Some((&ctl, body)) = data.split_first() else {
        run_reader(data, 0, Expect::None, None);
        return;
    };
    passes(body);
    let step = usize::from(ctl & 7);
    let whole_none = run_reader(body, 0, Expect::None, None);
    assert_eq!(run_reader(body, step, Expect::None, None), whole_none, "read size changed the records");
    let whole_hdr = run_reader(body, 0, Expect::FromHeader, None);
    assert_eq!(run_reader(body, step, Expect::FromHeader, None), whole_hdr, "read size changed the records");
    run_reader(body, step, Expect::Fixed(usize::from(ctl >> 4)), None);
    run_reader(body, step, Expect::None, Some(1));
    round_trip(body);
}
