//! The reader: a file (or any byte stream) → Arrow record batches + quarantine + counts, in one pass.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;

use crate::batch::{BatchBuilder, Unchanged};
use crate::header::HeaderMap;
use crate::records::{BadRecord, Event, RecordReader, MAX_RECORD};
use crate::taxonomy::Matcher;
use crate::Error;

/// How to read.
pub struct ReaderOptions {
    /// Rows per record batch.
    pub batch_size: usize,
    /// The taxonomy mapping; `Matcher::default()` maps nothing.
    pub matcher: Matcher,
    /// The seed of `record_hash` (the caller's fingerprint of everything else that shapes a row).
    pub seed: u64,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        Self { batch_size: 65_536, matcher: Matcher::default(), seed: 0 }
    }
}

/// A record that did not become a row.
#[derive(Debug, Clone)]
pub struct Quarantined {
    /// 1-based index among data records.
    pub row: u64,
    /// 1-based physical line where the record starts.
    pub line: u64,
    /// Stable code: field_count, missing_lot_number, invalid_value, record_too_long.
    pub reason: &'static str,
    pub detail: String,
    pub raw: Vec<u8>,
}

/// What a read produced, besides the rows.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub rows_in: u64,
    pub rows_ok: u64,
    pub rows_quarantined: u64,
    pub quarantine: Vec<Quarantined>,
    pub extra_columns: Vec<String>,
    pub missing_columns: Vec<&'static str>,
    /// Columns of the header line.
    pub header_width: usize,
    /// Set once the input is exhausted.
    pub sha256: Option<String>,
    pub bytes: u64,
    pub unknown: BTreeMap<&'static str, BTreeMap<String, u64>>,
    pub categorical_cells: u64,
    /// Time spent reading and normalizing (not waiting for the consumer).
    pub seconds: f64,
}

/// Streams batches out of a Copart sales-data CSV.
pub struct CopartReader<R: Read> {
    records: RecordReader<R>,
    builder: BatchBuilder,
    batch_size: usize,
    summary: Summary,
    busy: Duration,
    finished: bool,
}

impl CopartReader<File> {
    pub fn open(path: &Path, options: ReaderOptions) -> Result<Self, Error> {
        let file = File::open(path).map_err(|source| Error::Io { path: path.display().to_string(), source })?;
        Self::new(file, options).map_err(|e| match e {
            Error::Io { source, .. } => Error::Io { path: path.display().to_string(), source },
            other => other,
        })
    }
}

fn io(source: std::io::Error) -> Error {
    Error::Io { path: "<input>".to_string(), source }
}

impl<R: Read> CopartReader<R> {
    /// Reads the header; fails when the input is empty or has no `Lot number` column.
    pub fn new(input: R, options: ReaderOptions) -> Result<Self, Error> {
        let started = Instant::now();
        let mut records = RecordReader::new(input);
        let names: Vec<String> = match records.next_event().map_err(io)? {
            None => return Err(Error::EmptyFile),
            Some(Event::Record { fields, .. }) => fields.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect(),
            Some(Event::Bad { raw, .. }) => vec![String::from_utf8_lossy(raw).into_owned()],
        };
        let header = HeaderMap::from_names(&names).ok_or_else(|| {
            let start: String = names.join(",").chars().take(80).collect();
            Error::MissingLotNumberColumn { start }
        })?;
        records.set_expected_fields(header.width);
        let summary = Summary {
            extra_columns: header.extra_columns.clone(),
            missing_columns: header.missing.clone(),
            header_width: header.width,
            ..Summary::default()
        };
        let batch_size = options.batch_size.max(1); // the binding refuses 0; a Rust caller gets 1
        Ok(Self {
            records,
            builder: BatchBuilder::new(header, options.matcher, batch_size, options.seed),
            batch_size,
            summary,
            busy: started.elapsed(),
            finished: false,
        })
    }

    pub fn header(&self) -> &HeaderMap {
        self.builder.header()
    }

    /// The next batch of up to `batch_size` rows; None once the input is exhausted.
    pub fn next_batch(&mut self) -> Result<Option<RecordBatch>, Error> {
        if self.finished {
            return Ok(None);
        }
        let started = Instant::now();
        let result = self.fill();
        self.busy += started.elapsed();
        self.summary.seconds = self.busy.as_secs_f64();
        result
    }

    fn fill(&mut self) -> Result<Option<RecordBatch>, Error> {
        while self.builder.len() < self.batch_size {
            let event = self.records.next_event().map_err(io)?;
            let s = &mut self.summary;
            match event {
                None => {
                    self.finished = true;
                    s.sha256 = Some(self.records.finish_sha256().map_err(io)?);
                    s.bytes = self.records.bytes_read();
                    s.unknown = self.builder.matcher().unknown();
                    s.categorical_cells = self.builder.matcher().categorical_cells();
                    break;
                }
                Some(Event::Record { fields, raw, row, line, quote_repaired }) => {
                    s.rows_in += 1;
                    match self.builder.push(fields, raw, row, quote_repaired) {
                        Ok(()) => s.rows_ok += 1,
                        Err(rejection) => {
                            s.rows_quarantined += 1;
                            s.quarantine.push(Quarantined {
                                row,
                                line,
                                reason: rejection.reason,
                                detail: rejection.detail,
                                raw: raw.to_vec(),
                            });
                        }
                    }
                }
                Some(Event::Bad { raw, row, line, reason }) => {
                    s.rows_in += 1;
                    s.rows_quarantined += 1;
                    let (reason, detail) = match reason {
                        BadRecord::FieldCount { expected, found } => {
                            ("field_count", format!("expected {expected} fields, found {found}"))
                        }
                        BadRecord::TooLong => ("record_too_long", format!("record longer than {MAX_RECORD} bytes")),
                    };
                    s.quarantine.push(Quarantined { row, line, reason, detail, raw: raw.to_vec() });
                }
            }
        }
        self.summary.bytes = self.records.bytes_read();
        Ok(self.builder.finish())
    }

    /// Counts so far; complete once [`next_batch`](Self::next_batch) has returned None.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// See [`BatchBuilder::set_known`]: records the caller already stores are left out of the batches from
    /// now on (they still count as read and ok, and their taxonomy values as seen).
    pub fn set_known(&mut self, lots: &[i64], hashes: &[i64]) {
        self.builder.set_known(lots, hashes);
    }

    /// The records left out as unchanged since the last call.
    pub fn take_unchanged(&mut self) -> Unchanged {
        self.builder.take_unchanged()
    }
}
