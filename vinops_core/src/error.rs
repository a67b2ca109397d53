//! The one error type of the core. Every variant has a stable snake_case code (what Python sees as
//! `VinopsError.code`) and a one-line message for people.

/// Why a file could not be read at all. Problems with single rows are not errors: they go to quarantine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("the file is empty")]
    EmptyFile,
    #[error("not a Copart sales-data CSV: the header has no 'Lot number' column (it starts {start:?})")]
    MissingLotNumberColumn { start: String },
    #[error("invalid taxonomy mapping: {0}")]
    Taxonomy(String),
}

impl Error {
    pub fn code(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::EmptyFile => "empty_file",
            Error::MissingLotNumberColumn { .. } => "missing_lot_number_column",
            Error::Taxonomy(_) => "taxonomy",
        }
    }
}
