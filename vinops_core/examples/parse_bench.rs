//! Times the whole reader (split + normalize + Arrow) on a file, without Python:
//! `cargo run --release --example parse_bench -- FILE [REPEAT]`.

use std::path::Path;
use std::time::Instant;

use vinops_core::{CopartReader, ReaderOptions};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: parse_bench FILE [REPEAT]");
    let repeat: usize = args.next().map(|r| r.parse().expect("REPEAT is a number")).unwrap_or(3);
    let bytes = std::fs::metadata(&path).expect("file").len() as f64;
    for _ in 0..repeat {
        let started = Instant::now();
        let mut reader = CopartReader::open(Path::new(&path), ReaderOptions::default()).expect("header");
        let mut rows = 0;
        while let Some(batch) = reader.next_batch().expect("batch") {
            rows += batch.num_rows();
        }
        let secs = started.elapsed().as_secs_f64();
        println!("{rows} rows, {:.1} MB in {secs:.3} s = {:.0} MB/s", bytes / 1e6, bytes / 1e6 / secs);
    }
}
