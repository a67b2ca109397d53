//! Splitting throughput: `cargo run --release -p vinops_core --example split_bench -- FILE [ROUNDS]`.
//!
//! Prints MB/s (10^6 bytes per second) for
//! - `split`: the strict pass alone over the file in memory (the dialect's hot loop), with the same
//!   strict → tolerant choice the reader makes;
//! - `reader`: [`RecordReader`] over the in-memory bytes (adds buffering, line counting and SHA-256);
//! - `reader+file`: [`RecordReader`] over the open file (adds the reads).

use std::time::Instant;

use vinops_core::dialect::{content_len, strict, tolerant, Fields, Scan};
use vinops_core::records::{Event, RecordReader};

fn split(data: &[u8], fields: &mut Fields) -> (u64, u64) {
    let (mut records, mut n_fields) = (0u64, 0u64);
    let mut pos = 0;
    while pos < data.len() {
        let rest = &data[pos..];
        let end = match strict(rest, true, fields) {
            Scan::Complete { end, irregular: false } => end,
            _ => match tolerant(rest, true, fields) {
                Scan::Complete { end, .. } => end,
                Scan::Incomplete => unreachable!("at EOF"),
            },
        };
        if content_len(rest, end) > 0 {
            records += 1;
            n_fields += fields.len() as u64;
        }
        pos += end.max(1);
    }
    (records, n_fields)
}

fn drain<R: std::io::Read>(rr: &mut RecordReader<R>) -> (u64, u64) {
    let (mut records, mut bad) = (0u64, 0u64);
    while let Some(ev) = rr.next_event().expect("read") {
        match ev {
            Event::Record { .. } => records += 1,
            Event::Bad { .. } => bad += 1,
        }
    }
    (records, bad)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: split_bench FILE [ROUNDS]");
    let rounds: usize = args.next().map_or(3, |r| r.parse().expect("ROUNDS"));
    let data = std::fs::read(&path).expect("read file");
    let mb = data.len() as f64 / 1e6;
    println!("{path}: {mb:.1} MB, best of {rounds}");

    let mut fields = Fields::default();
    let mut best = f64::MAX;
    let mut counts = (0, 0);
    for _ in 0..rounds {
        let t = Instant::now();
        counts = split(&data, &mut fields);
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("split        {:8.0} MB/s  ({} records, {} fields)", mb / best, counts.0, counts.1);

    let mut best = f64::MAX;
    for _ in 0..rounds {
        let t = Instant::now();
        let mut rr = RecordReader::new(&data[..]);
        counts = drain(&mut rr);
        let sha = rr.finish_sha256().expect("sha");
        best = best.min(t.elapsed().as_secs_f64());
        std::hint::black_box(sha);
    }
    println!("reader       {:8.0} MB/s  ({} records, {} bad)", mb / best, counts.0, counts.1);

    let mut best = f64::MAX;
    for _ in 0..rounds {
        let t = Instant::now();
        let mut rr = RecordReader::new(std::fs::File::open(&path).expect("open"));
        counts = drain(&mut rr);
        let sha = rr.finish_sha256().expect("sha");
        best = best.min(t.elapsed().as_secs_f64());
        std::hint::black_box(sha);
    }
    println!("reader+file  {:8.0} MB/s  ({} records, {} bad)", mb / best, counts.0, counts.1);
}
