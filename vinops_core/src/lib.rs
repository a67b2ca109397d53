//! vinops_core: the Copart sales-data CSV → typed Arrow record batches, in one streaming pass.
//!
//! Read top to bottom, this is the data path:
//! bytes → [`records`] (the Copart CSV dialect, [`dialect`]) → [`header`] mapping → per-value normalizers
//! ([`number`], [`time`], [`zone`], [`vin`], [`taxonomy`]) → column builders ([`batch`]) → Arrow batches
//! with the schema of [`schema`], driven by [`reader`]. The Python binding is one module, [`python`].
//! The rules are written down in `docs/normalization.md`.

pub mod batch;
mod columns;
pub mod dialect;
pub mod error;
pub mod header;
pub mod number;
pub mod reader;
pub mod records;
pub mod schema;
pub mod taxonomy;
pub mod text;
pub mod time;
pub mod vin;
pub mod zone;

#[cfg(feature = "python")]
mod python;

#[cfg(test)]
mod testing;

pub use error::Error;
pub use reader::{CopartReader, ReaderOptions, Summary};


