//! VIN rules (docs/normalization.md, "VIN"): upper-case only, never edit letters; ISO 3779 structure,
//! North-American check digit, model year from position 10.

/// What the VIN tells about itself. Computed from an already normalized VIN (see [`normalize_into`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VinInfo {
    pub valid_iso: bool,
    pub check_digit_ok: bool,
    pub short_or_legacy: bool,
    pub model_year: Option<i16>,
}

/// Writes the normalized VIN (ASCII-trimmed, ASCII letters upper-cased) into `out` (cleared first).
/// Returns false when nothing is left (the VIN is NULL).
pub fn normalize_into(raw: &str, out: &mut String) -> bool {
    let _ = (raw, out);
    todo!()
}

/// The check digit (`b'0'..=b'9'` or `b'X'`) of a 17-byte VIN in the ISO 3779 alphabet; None otherwise.
pub fn check_digit(vin: &[u8]) -> Option<u8> {
    let _ = vin;
    todo!()
}

/// Flags and model year of a normalized VIN; `year` is the row's `Year`, used to pick the model-year cycle.
pub fn analyze(vin: &str, year: Option<i16>) -> VinInfo {
    let _ = (vin, year);
    todo!()
}
