//! Times the whole reader (split + normalize + taxonomy + Arrow + SHA-256) on a file, without Python:
//! `cargo run --release --example parse_bench -- FILE [REPEAT] [TAXONOMY_DIR|none|default] [BATCH_ROWS]`.
//!
//! With a taxonomy directory (default `sql/taxonomy` when it exists) the mapping of `values.csv`
//! (`domain,raw,code`) and `terms.csv` (`domain,id,code,…`) is loaded as domain → raw → term id, as
//! `vinops.taxonomy.load().matcher_mapping()` hands it over, so the taxonomy matching is measured too.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use vinops_core::records::{Event, RecordReader};
use vinops_core::taxonomy::Matcher;
use vinops_core::{CopartReader, ReaderOptions};

/// The rows of a small CSV file (header included), read with the crate's own dialect.
fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut records = RecordReader::new(file);
    let mut rows = Vec::new();
    while let Some(event) = records.next_event().expect("read") {
        if let Event::Record { fields, .. } = event {
            rows.push(fields.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect());
        }
    }
    rows
}

fn mapping(dir: &Path) -> HashMap<String, HashMap<String, i16>> {
    let mut ids: HashMap<(String, String), i16> = HashMap::new();
    for row in csv_rows(&dir.join("terms.csv")).into_iter().skip(1) {
        ids.insert((row[0].clone(), row[2].clone()), row[1].parse().expect("term id"));
    }
    let mut out: HashMap<String, HashMap<String, i16>> = HashMap::new();
    for row in csv_rows(&dir.join("values.csv")).into_iter().skip(1) {
        let id = ids[&(row[0].clone(), row[2].clone())];
        out.entry(row[0].clone()).or_default().insert(row[1].clone(), id);
    }
    out
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: parse_bench FILE [REPEAT] [TAXONOMY_DIR|none]");
    let repeat: usize = args.next().map(|r| r.parse().expect("REPEAT is a number")).unwrap_or(3);
    let taxonomy = match args.next() {
        Some(dir) if dir == "none" => None,
        Some(dir) if dir == "default" => Some(Path::new("sql/taxonomy")).filter(|d| d.join("values.csv").exists()).map(mapping),
        Some(dir) => Some(mapping(Path::new(&dir))),
        None => Some(Path::new("sql/taxonomy")).filter(|d| d.join("values.csv").exists()).map(mapping),
    };
    let batch_size: usize = args.next().map(|r| r.parse().expect("BATCH_ROWS is a number")).unwrap_or(ReaderOptions::default().batch_size);
    match &taxonomy {
        Some(m) => println!("taxonomy: {} domains, {} values", m.len(), m.values().map(HashMap::len).sum::<usize>()),
        None => println!("taxonomy: none"),
    }
    let bytes = std::fs::metadata(&path).expect("file").len() as f64;
    let mut best = f64::INFINITY;
    for _ in 0..repeat {
        let matcher = match &taxonomy {
            Some(m) => Matcher::new(m.clone()).expect("taxonomy"),
            None => Matcher::default(),
        };
        let started = Instant::now();
        let mut reader = CopartReader::open(Path::new(&path), ReaderOptions { matcher, batch_size, seed: 0 })
            .expect("header");
        // Batches are kept until the end, as `vinops parse` keeps its table: every batch's buffers are
        // then fresh memory, whose page faults are part of the cost.
        let mut batches = Vec::new();
        while let Some(batch) = reader.next_batch().expect("batch") {
            batches.push(batch);
        }
        let secs = started.elapsed().as_secs_f64();
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        drop(batches);
        best = best.min(secs);
        let s = reader.summary();
        println!(
            "{rows} rows ({} quarantined, {} cells, sha {}…), {:.1} MB in {secs:.3} s = {:.0} MB/s",
            s.rows_quarantined,
            s.categorical_cells,
            &s.sha256.as_deref().unwrap_or("")[..12],
            bytes / 1e6,
            bytes / 1e6 / secs
        );
    }
    println!("best: {best:.3} s = {:.0} MB/s", bytes / 1e6 / best);
}
