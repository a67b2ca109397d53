//! The Python module `vinops._core`: the only place PyO3 appears. Errors become `VinopsError` here, once.

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arrow_array::{ArrayRef, StructArray};
use arrow_schema::{ArrowError, Field};
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyCapsule, PyDict, PyList};
use pyo3_arrow::ffi::{to_schema_pycapsule, to_stream_pycapsule, ArrayIterator};

use crate::records::{BadRecord, Event, RecordReader};
use crate::reader::{CopartReader, ReaderOptions};
use crate::schema::{self, COLUMNS};
use crate::taxonomy::Matcher;
use crate::Error;

pyo3::create_exception!(vinops._core, VinopsError, PyException, "A file vinops cannot read; `.code` says why.");

fn to_py(err: Error) -> PyErr {
    let code = err.code();
    let py_err = VinopsError::new_err(err.to_string());
    Python::attach(|py| {
        let _ = py_err.value(py).setattr("code", code);
    });
    py_err
}

fn arrow_err(err: pyo3_arrow::error::PyArrowError) -> PyErr {
    err.into()
}

type Shared = Arc<Mutex<CopartReader<File>>>;

/// The taxonomy mapping as Python hands it over, `{domain: {raw value: code}}`, codes not yet checked.
type Mapping<'py> = HashMap<String, HashMap<String, Bound<'py, PyAny>>>;
type Codes = Vec<(String, Vec<(String, i16)>)>;

/// The mapping with its codes as int16. A code that is not an int16 (out of range, a bool, a float, text)
/// is a `taxonomy` error like every other fault of the mapping, so that callers catch `VinopsError` alone
/// (the reference engine raises the same).
fn taxonomy_codes(map: Mapping<'_>) -> Result<Codes, Error> {
    let mut out = Vec::with_capacity(map.len());
    for (domain, values) in map {
        let mut codes = Vec::with_capacity(values.len());
        for (raw, code) in values {
            let value = if code.is_instance_of::<PyBool>() { None } else { code.extract::<i64>().ok() };
            let Some(value) = value.and_then(|v| i16::try_from(v).ok()) else {
                return Err(Error::Taxonomy(format!("{domain}: code {code} of {raw:?} is not an int16")));
            };
            codes.push((raw, value));
        }
        out.push((domain, codes));
    }
    Ok(out)
}

/// Reads a Copart sales-data CSV into Arrow record batches (see `_core.pyi`).
#[pyclass(module = "vinops._core", name = "CsvReader", frozen)]
struct PyCsvReader {
    state: Shared,
    streamed: Mutex<bool>,
}

/// Iterates the shared reader as Arrow arrays (struct arrays: one per batch) for the C stream.
struct Batches {
    state: Shared,
}

impl Iterator for Batches {
    type Item = Result<ArrayRef, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut reader = self.state.lock().expect("reader lock");
        match reader.next_batch() {
            Ok(Some(batch)) => Some(Ok(Arc::new(StructArray::from(batch)) as ArrayRef)),
            Ok(None) => None,
            Err(e) => Some(Err(ArrowError::ExternalError(Box::new(e)))),
        }
    }
}

#[pymethods]
impl PyCsvReader {
    #[new]
    #[pyo3(signature = (path, *, batch_size = 65_536, taxonomy = None, seed = 0))]
    fn new(py: Python<'_>, path: PathBuf, batch_size: usize, taxonomy: Option<Mapping<'_>>, seed: u64) -> PyResult<Self> {
        if batch_size == 0 {
            return Err(pyo3::exceptions::PyValueError::new_err("batch_size must be at least 1"));
        }
        let matcher = match taxonomy {
            None => Matcher::default(),
            Some(map) => Matcher::new(taxonomy_codes(map).map_err(to_py)?).map_err(to_py)?,
        };
        let reader = py
            .detach(|| CopartReader::open(&path, ReaderOptions { batch_size, matcher, seed }))
            .map_err(to_py)?;
        Ok(Self { state: Arc::new(Mutex::new(reader)), streamed: Mutex::new(false) })
    }

    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        to_schema_pycapsule(py, schema::schema().as_ref()).map_err(arrow_err)
    }

    /// The batches as an Arrow C stream; a reader can be streamed once. The consumer (e.g. pyarrow)
    /// calls back into Rust without the GIL, so parsing runs while other Python threads work.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(&self, py: Python<'py>, requested_schema: Option<Bound<'py, PyCapsule>>) -> PyResult<Bound<'py, PyCapsule>> {
        let mut streamed = self.streamed.lock().expect("lock");
        if *streamed {
            return Err(VinopsError::new_err("this CsvReader was already streamed; open the file again"));
        }
        *streamed = true;
        let schema = schema::schema();
        let field = Arc::new(Field::new_struct("", schema.fields().clone(), false));
        let batches = ArrayIterator::new(Batches { state: self.state.clone() }, field);
        to_stream_pycapsule(py, Box::new(batches), requested_schema).map_err(arrow_err)
    }

    /// The records the caller already stores: `lots[i]` stores a record whose `record_hash` is `hashes[i]`.
    /// Records read after this call whose lot stores their very hash are left out of the batches (still
    /// counted as read and ok, their taxonomy values counted); `take_unchanged()` lists them. May be called
    /// while the stream is being read (it waits for the batch being parsed).
    fn set_known(&self, py: Python<'_>, lots: Vec<i64>, hashes: Vec<i64>) -> PyResult<()> {
        if lots.len() != hashes.len() {
            return Err(pyo3::exceptions::PyValueError::new_err("lots and hashes differ in length"));
        }
        let state = self.state.clone();
        py.detach(move || state.lock().expect("reader lock").set_known(&lots, &hashes));
        Ok(())
    }

    /// `(lots, source_rows, positions)` of the records left out as unchanged since the last call
    /// (positions index the arrays given to `set_known`).
    fn take_unchanged(&self, py: Python<'_>) -> (Vec<i64>, Vec<i64>, Vec<u32>) {
        let state = self.state.clone();
        let u = py.detach(move || state.lock().expect("reader lock").take_unchanged());
        (u.lots, u.rows, u.positions)
    }

    /// Counts, quarantine and unknown values so far (complete once the stream is exhausted).
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let reader = self.state.lock().expect("reader lock");
        let s = reader.summary();
        let d = PyDict::new(py);
        d.set_item("sha256", s.sha256.clone())?;
        d.set_item("rows_in", s.rows_in)?;
        d.set_item("rows_ok", s.rows_ok)?;
        d.set_item("rows_quarantined", s.rows_quarantined)?;
        let quarantine = PyList::empty(py);
        for q in &s.quarantine {
            let item = PyDict::new(py);
            item.set_item("row", q.row)?;
            item.set_item("line", q.line)?;
            item.set_item("reason", q.reason)?;
            item.set_item("detail", &q.detail)?;
            item.set_item("raw", PyBytes::new(py, &q.raw))?;
            quarantine.append(item)?;
        }
        d.set_item("quarantine", quarantine)?;
        d.set_item("unknown", s.unknown.clone())?;
        d.set_item("categorical_cells", s.categorical_cells)?;
        d.set_item("extra_columns", s.extra_columns.clone())?;
        d.set_item("missing_columns", s.missing_columns.clone())?;
        d.set_item("header_width", s.header_width)?;
        d.set_item("bytes", s.bytes)?;
        d.set_item("seconds", s.seconds)?;
        d.set_item("finished", reader.is_finished())?;
        Ok(d)
    }
}

/// The output schema, as an object pyarrow reads with `pyarrow.schema(...)`.
#[pyclass(module = "vinops._core", name = "OutputSchema", frozen)]
struct PyOutputSchema;

#[pymethods]
impl PyOutputSchema {
    #[new]
    fn new() -> Self {
        Self
    }

    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        to_schema_pycapsule(py, schema::schema().as_ref()).map_err(arrow_err)
    }
}

/// `(name, nullable, description)` of every output column, in order.
#[pyfunction]
fn column_docs() -> Vec<(&'static str, bool, &'static str)> {
    COLUMNS.iter().map(|c| (c.name, c.nullable, c.doc)).collect()
}

/// Splits bytes into records with the Copart dialect (no header semantics). Each item is
/// `("row", fields, quote_repaired)` or `("bad", reason, raw)`. For tests and debugging.
#[pyfunction]
#[pyo3(signature = (data, expected_fields = None))]
fn tokenize<'py>(py: Python<'py>, data: &[u8], expected_fields: Option<usize>) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    let mut records = RecordReader::new(data);
    if let Some(n) = expected_fields {
        records.set_expected_fields(n);
    }
    while let Some(event) = records.next_event().map_err(|e| to_py(Error::Io { path: "<bytes>".into(), source: e }))? {
        match event {
            Event::Record { fields, quote_repaired, .. } => {
                let fields: Vec<Bound<'py, PyBytes>> = fields.iter().map(|f| PyBytes::new(py, f)).collect();
                out.append(("row", fields, quote_repaired))?;
            }
            Event::Bad { raw, reason, .. } => {
                let reason = match reason {
                    BadRecord::FieldCount { .. } => "field_count",
                    BadRecord::TooLong => "record_too_long",
                };
                out.append(("bad", reason, PyBytes::new(py, raw)))?;
            }
        }
    }
    Ok(out)
}

/// The zone table compiled into the core (`vinops_core/data/zones.csv`, `kind,key,zone,note`): the
/// Python reference engine reads it from here, so both engines use the same bytes.
#[pyfunction]
fn zones_csv() -> &'static str {
    crate::zone::ZONES_CSV
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("VinopsError", m.py().get_type::<VinopsError>())?;
    m.add_class::<PyCsvReader>()?;
    m.add_class::<PyOutputSchema>()?;
    m.add_function(wrap_pyfunction!(column_docs, m)?)?;
    m.add_function(wrap_pyfunction!(tokenize, m)?)?;
    m.add_function(wrap_pyfunction!(zones_csv, m)?)?;
    Ok(())
}
