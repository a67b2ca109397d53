//! Numbers as the feed writes them (docs/normalization.md, "Values"). Inputs are already trimmed and non-empty.

/// `-?[0-9]+` that fits an i64.
pub fn parse_int(s: &[u8]) -> Option<i64> {
    let _ = s;
    todo!()
}

/// Money `-?[0-9]+(\.[0-9]+)?` → cents, rounded half away from zero from the exact decimal.
/// Returns Some(None) for any zero value ("no figure"), None when the text is not money.
pub fn parse_cents(s: &[u8]) -> Option<Option<i64>> {
    let _ = s;
    todo!()
}

/// `-?[0-9]+(\.[0-9]+)?` → f64 (correctly rounded, as Rust's and Python's float parsers do).
pub fn parse_decimal(s: &[u8]) -> Option<f64> {
    let _ = s;
    todo!()
}

/// `Y YES TRUE 1` / `N NO FALSE 0`, any case.
pub fn parse_flag(s: &[u8]) -> Option<bool> {
    let _ = s;
    todo!()
}
