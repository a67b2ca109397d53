//! `RUSTC_BOOTSTRAP=1 cargo fuzz run reader` (from vinops_core/): arbitrary bytes through the whole
//! `CopartReader` (records, header mapping, every normalizer, the batch builder), half of the inputs behind the
//! real 59-column header so that the rows reach the normalizers. Any panic is a finding; so is a read whose
//! counts do not add up or whose SHA-256 is not the input's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use vinops_core::{CopartReader, ReaderOptions};

/// The real header of October 2025 (tests/data/copart), with its line break.
const HEADER: &[u8] = include_bytes!("../../../tests/data/copart/header-59-2025-10.csv");

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, body)) = data.split_first() else { return };
    let input: Vec<u8> = if ctl & 1 == 1 { [HEADER, body].concat() } else { body.to_vec() };
    let options = ReaderOptions { batch_size: usize::from(ctl >> 1 & 7) + 1, ..ReaderOptions::default() };
    let Ok(mut reader) = CopartReader::new(&input[..], options) else { return };
    let mut rows = 0u64;
    while let Some(batch) = reader.next_batch().expect("reading a slice cannot fail") {
        rows += batch.num_rows() as u64;
    }
    let s = reader.summary();
    assert_eq!(s.rows_in, s.rows_ok + s.rows_quarantined, "rows_in != ok + quarantined");
    assert_eq!(s.rows_quarantined, s.quarantine.len() as u64);
    assert!(rows <= s.rows_ok, "more rows in the batches than rows ok");
    let sha: String = Sha256::digest(&input).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(s.sha256.as_deref(), Some(sha.as_str()), "sha256");
    assert_eq!(s.bytes, input.len() as u64);
});
