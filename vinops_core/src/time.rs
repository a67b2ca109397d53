//! Dates and times of the feed (docs/normalization.md, "Values"). Inputs are already trimmed and non-empty.

/// `Sale Date M/D/CY`: `0` → Ok(None); `YYYYMMDD` (a real calendar date) → days since 1970-01-01.
pub fn parse_sale_date(s: &[u8]) -> Result<Option<i32>, ()> {
    let _ = s;
    todo!()
}

/// `Sale time (HHMM)`: `0` → Ok(None); 1–4 digits, hours ≤ 23, minutes ≤ 59 → the HHMM number.
pub fn parse_sale_time(s: &[u8]) -> Result<Option<i16>, ()> {
    let _ = s;
    todo!()
}

/// `Last Updated Time`: `YYYY-MM-DD[T ]HH:MM:SS[.f{1,6}][Z|±HH:MM|±HHMM]` (no offset = UTC) → µs since the epoch, UTC.
pub fn parse_source_time(s: &[u8]) -> Option<i64> {
    let _ = s;
    todo!()
}

/// `Create Date/Time`: DB2 `YYYY-MM-DD-HH.MM.SS[.f{1,6}]` → naive µs since 1970-01-01T00:00.
pub fn parse_db2_time(s: &[u8]) -> Option<i64> {
    let _ = s;
    todo!()
}
