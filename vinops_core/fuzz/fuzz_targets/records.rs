//! `RUSTC_BOOTSTRAP=1 cargo fuzz run records` (from vinops_core/; or `bash scripts/fuzz.sh`): arbitrary bytes through `RecordReader`, with
//! and without an expected field count, and through both dialect passes; see `records_check.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod records_check;

fuzz_target!(|data: &[u8]| records_check::check(data));
