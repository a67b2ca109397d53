//! Dates and times of the feed (docs/normalization.md, "Values"). Inputs are already trimmed and non-empty.
//!
//! All parsers work on bytes with fixed positions, never allocate and never panic. Calendar dates are
//! proleptic Gregorian with years 0001–9999 (the range of Python's `datetime`, so both engines reject
//! the same text: year 0000 is not a real date).

/// Microseconds per second.
const MICROS: i64 = 1_000_000;
/// Seconds per day.
const DAY_SECS: i64 = 86_400;

/// The value of `n` ASCII digits, or None if any byte is not a digit.
#[inline]
fn digits(s: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(b - b'0');
    }
    Some(v)
}

#[inline]
fn is_leap(y: u32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

#[inline]
fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (y, m, d) already known to be valid.
///
/// Counts whole 400-year eras from a calendar that starts on 1 March, so that the leap day is the last
/// day of its year and the month lengths from March on follow a fixed pattern.
fn days_from_civil(y: u32, m: u32, d: u32) -> i32 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // 0..=399
    let mp = (i64::from(m) + 9) % 12; // March = 0 … February = 11
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1; // 0..=365
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // 0..=146096

    // 719468 = days from 0000-03-01 to 1970-01-01. Years 1..=9999 keep this well inside i32.
    (era * 146_097 + doe - 719_468) as i32
}

/// `YYYY`, `MM`, `DD` → days since the epoch, if the date is real (years 0001–9999).
#[inline]
fn date_days(y: u32, m: u32, d: u32) -> Option<i32> {
    if y == 0 || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// `YYYY?MM?DD` at the start of `s` with the given separator (None: no separator).
#[inline]
fn parse_ymd(s: &[u8], sep: Option<u8>) -> Option<i32> {
    let (y, m, d) = match sep {
        None => (digits(s.get(0..4)?)?, digits(s.get(4..6)?)?, digits(s.get(6..8)?)?),
        Some(c) => {
            if *s.get(4)? != c || *s.get(7)? != c {
                return None;
            }
            (digits(s.get(0..4)?)?, digits(s.get(5..7)?)?, digits(s.get(8..10)?)?)
        }
    };
    date_days(y, m, d)
}

/// `HH?MM?SS` with the given separator → seconds of the day (hours ≤ 23, minutes and seconds ≤ 59).
#[inline]
fn parse_hms(s: &[u8], sep: u8) -> Option<i64> {
    if s.len() != 8 || s[2] != sep || s[5] != sep {
        return None;
    }
    let (h, m, sec) = (digits(&s[0..2])?, digits(&s[3..5])?, digits(&s[6..8])?);
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    Some(i64::from(h * 3600 + m * 60 + sec))
}

/// An optional `.f{1,6}` at the start of `s`: (microseconds, bytes consumed). A `.` without 1–6 digits
/// after it is an error.
#[inline]
fn parse_fraction(s: &[u8]) -> Option<(i64, usize)> {
    if s.first() != Some(&b'.') {
        return Some((0, 0));
    }
    let n = s[1..].iter().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 || n > 6 {
        return None;
    }
    let mut v = i64::from(digits(&s[1..1 + n])?);
    for _ in n..6 {
        v *= 10;
    }
    Some((v, 1 + n))
}

/// `Sale Date M/D/CY`: `0` → Ok(None); `YYYYMMDD` (a real calendar date) → days since 1970-01-01.
///
/// Only the exact text `0` is NULL (`00000000` is not a real date: invalid).
#[allow(clippy::result_unit_err)] // the signature is the module's contract: Err(()) = quarantine `invalid_value`
pub fn parse_sale_date(s: &[u8]) -> Result<Option<i32>, ()> {
    if s == b"0" {
        return Ok(None);
    }
    if s.len() != 8 {
        return Err(());
    }
    parse_ymd(s, None).map(Some).ok_or(())
}

/// `Sale time (HHMM)`: `0` → Ok(None); 1–4 digits, hours ≤ 23, minutes ≤ 59 → the HHMM number.
///
/// The digits are the number HHMM written without leading zeros (`700` → 07:00, `7` → 00:07).
/// Only the exact text `0` is NULL: `00`, `000` and `0000` are midnight (0).
#[allow(clippy::result_unit_err)]
pub fn parse_sale_time(s: &[u8]) -> Result<Option<i16>, ()> {
    if s == b"0" {
        return Ok(None);
    }
    let v = match s.len() {
        1..=4 => digits(s).ok_or(())?,
        _ => return Err(()),
    };
    // The field is an HHMM number written without leading zeros: `700` is 07:00 and `7` is 00:07.
    let (h, m) = (v / 100, v % 100);
    if h > 23 || m > 59 {
        return Err(());
    }
    // At most 2359.
    Ok(Some((h * 100 + m) as i16))
}

/// `Last Updated Time`: `YYYY-MM-DD[T ]HH:MM:SS[.f{1,6}][Z|±HH:MM|±HHMM]` (no offset = UTC) → µs since the epoch, UTC.
///
/// Offsets must have hours ≤ 23 and minutes ≤ 59 (Python's limit of under 24 h). `-00:00` is UTC.
pub fn parse_source_time(s: &[u8]) -> Option<i64> {
    if s.len() < 19 || (s[10] != b'T' && s[10] != b' ') {
        return None;
    }
    let days = parse_ymd(&s[..10], Some(b'-'))?;
    let secs = parse_hms(&s[11..19], b':')?;
    let (frac, n) = parse_fraction(&s[19..])?;
    let rest = &s[19 + n..];
    let offset_secs: i64 = match rest {
        [] | [b'Z'] => 0,
        [sign @ (b'+' | b'-'), tail @ ..] => {
            let (h, m) = match tail {
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let off = i64::from(h * 3600 + m * 60);
            if *sign == b'-' {
                -off
            } else {
                off
            }
        }
        _ => return None,
    };
    Some((i64::from(days) * DAY_SECS + secs - offset_secs) * MICROS + frac)
}

/// `Create Date/Time`: DB2 `YYYY-MM-DD-HH.MM.SS[.f{1,6}]` → naive µs since 1970-01-01T00:00.
pub fn parse_db2_time(s: &[u8]) -> Option<i64> {
    if s.len() < 19 || s[10] != b'-' {
        return None;
    }
    let days = parse_ymd(&s[..10], Some(b'-'))?;
    let secs = parse_hms(&s[11..19], b'.')?;
    let (frac, n) = parse_fraction(&s[19..])?;
    if 19 + n != s.len() {
        return None;
    }
    Some((i64::from(days) * DAY_SECS + secs) * MICROS + frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Days since the epoch by chrono, the independent oracle.
    fn chrono_days(y: i32, m: u32, d: u32) -> i32 {
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        (chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap() - epoch).num_days() as i32
    }

    fn micros(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, us: u32) -> i64 {
        chrono::NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_micro_opt(h, mi, s, us)
            .unwrap()
            .and_utc()
            .timestamp_micros()
    }

    #[test]
    fn sale_dates() {
        type Ymd = (i32, u32, u32);
        let ok: &[(&str, Option<Ymd>)] = &[
            ("0", None),
            ("20260128", Some((2026, 1, 28))),
            ("19700101", Some((1970, 1, 1))),
            ("19691231", Some((1969, 12, 31))),
            ("20240229", Some((2024, 2, 29))),
            ("20000229", Some((2000, 2, 29))),
            ("20261231", Some((2026, 12, 31))),
            ("00010101", Some((1, 1, 1))),
            ("99991231", Some((9999, 12, 31))),
            ("16000301", Some((1600, 3, 1))),
        ];
        for &(s, want) in ok {
            assert_eq!(
                parse_sale_date(s.as_bytes()),
                Ok(want.map(|(y, m, d)| chrono_days(y, m, d))),
                "{s}"
            );
        }
        assert_eq!(parse_sale_date(b"19700101"), Ok(Some(0)));
        assert_eq!(parse_sale_date(b"20260128"), Ok(Some(20_481)));
        for s in [
            "20260229",
            "19000229",
            "21000229",
            "20261301",
            "20260001",
            "20260100",
            "20260431",
            "20260132",
            "00000101",
            "00000001",
            "0000000a",
            "00000000",
            "00",
            "000",
            "-0",
            "2026012",
            "202601280",
            "2026-01-28",
            "1/28/2026",
            "2026012a",
            "",
            " 20260128",
            "+2026012",
            "２０２６０１２８",
        ] {
            assert_eq!(parse_sale_date(s.as_bytes()), Err(()), "{s:?}");
        }
    }

    #[test]
    fn every_day_matches_chrono() {
        // Every date from 1600 to 2400 against chrono (leap rules of 100 and 400 included).
        let mut d = chrono::NaiveDate::from_ymd_opt(1600, 1, 1).unwrap();
        let end = chrono::NaiveDate::from_ymd_opt(2400, 12, 31).unwrap();
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        while d <= end {
            let text = d.format("%Y%m%d").to_string();
            assert_eq!(
                parse_sale_date(text.as_bytes()),
                Ok(Some((d - epoch).num_days() as i32)),
                "{text}"
            );
            d = d.succ_opt().unwrap();
        }
    }

    #[test]
    fn sale_times() {
        let cases: &[(&str, Result<Option<i16>, ()>)] = &[
            ("0", Ok(None)),
            ("700", Ok(Some(700))),
            ("800", Ok(Some(800))),
            ("1000", Ok(Some(1000))),
            ("2100", Ok(Some(2100))),
            ("0930", Ok(Some(930))),
            ("930", Ok(Some(930))),
            ("2359", Ok(Some(2359))),
            // Only `0` is NULL: other spellings of zero are midnight.
            ("0000", Ok(Some(0))),
            ("000", Ok(Some(0))),
            ("00000", Err(())),
            ("0001", Ok(Some(1))),
            ("001", Ok(Some(1))),
            // Short numbers are minutes past midnight, as HHMM without leading zeros.
            ("7", Ok(Some(7))),
            ("07", Ok(Some(7))),
            ("23", Ok(Some(23))),
            ("00", Ok(Some(0))),
            ("59", Ok(Some(59))),
            ("60", Err(())),
            // Out of range.
            ("2400", Err(())),
            ("1260", Err(())),
            ("960", Err(())),
            ("2500", Err(())),
            ("9999", Err(())),
            // Garbage.
            ("", Err(())),
            ("10000", Err(())),
            ("07000", Err(())),
            ("-700", Err(())),
            ("+700", Err(())),
            ("7:00", Err(())),
            ("7.0", Err(())),
            ("7a", Err(())),
            ("1000 ", Err(())),
        ];
        for &(s, want) in cases {
            assert_eq!(parse_sale_time(s.as_bytes()), want, "{s:?}");
        }
    }

    #[test]
    fn source_times() {
        let base = micros(2026, 1, 28, 9, 0, 17, 0);
        let cases: &[(&str, Option<i64>)] = &[
            ("2026-01-28T09:00:17Z", Some(base)),
            ("2026-01-28T09:00:17", Some(base)),
            ("2026-01-28 09:00:17", Some(base)),
            ("2026-01-28 09:00:17Z", Some(base)),
            ("2026-01-28T09:00:17+00:00", Some(base)),
            ("2026-01-28T09:00:17-00:00", Some(base)),
            ("2026-01-28T09:00:17+0000", Some(base)),
            ("2026-01-28T04:00:17-05:00", Some(base)),
            ("2026-01-28T04:00:17-0500", Some(base)),
            ("2026-01-28T14:30:17+05:30", Some(base)),
            ("2026-01-29T08:59:17+23:59", Some(base)),
            ("2026-01-28T09:00:17.5Z", Some(base + 500_000)),
            ("2026-01-28T09:00:17.000551Z", Some(base + 551)),
            ("2026-01-28T09:00:17.123456", Some(base + 123_456)),
            ("2026-01-28T04:00:17.25-05:00", Some(base + 250_000)),
            ("1970-01-01T00:00:00Z", Some(0)),
            ("1969-12-31T23:59:59.999999Z", Some(-1)),
            ("2024-02-29T23:59:59Z", Some(micros(2024, 2, 29, 23, 59, 59, 0))),
            ("0001-01-01T00:00:00Z", Some(micros(1, 1, 1, 0, 0, 0, 0))),
            (
                "9999-12-31T23:59:59.999999Z",
                Some(micros(9999, 12, 31, 23, 59, 59, 999_999)),
            ),
            // Invalid fields.
            ("2026-02-29T09:00:17Z", None),
            ("2026-13-01T09:00:17Z", None),
            ("0000-01-01T00:00:00Z", None),
            ("2026-01-28T24:00:00Z", None),
            ("2026-01-28T09:60:17Z", None),
            ("2026-01-28T09:00:60Z", None),
            ("2026-01-28T09:00:17+24:00", None),
            ("2026-01-28T09:00:17+05:60", None),
            // Grammar.
            ("2026-01-28T09:00:17.Z", None),
            ("2026-01-28T09:00:17.", None),
            ("2026-01-28T09:00:17.1234567Z", None),
            ("2026-01-28T09:00:17ZZ", None),
            ("2026-01-28T09:00:17z", None),
            ("2026-01-28t09:00:17Z", None),
            ("2026-01-28T09:00:17+05", None),
            ("2026-01-28T09:00:17+5:00", None),
            ("2026-01-28T09:00:17+05:0", None),
            ("2026-01-28T09:00:17 +05:00", None),
            ("2026-01-28T09:00:17+05:00Z", None),
            ("2026-01-28T09:00", None),
            ("2026-01-28", None),
            ("2026-1-28T09:00:17Z", None),
            ("2026/01/28T09:00:17Z", None),
            ("2026-01-28-09.00.17.000551", None),
            ("20260128T090017Z", None),
            ("", None),
            ("2026-01-28T09:00:17Zé", None),
        ];
        for &(s, want) in cases {
            assert_eq!(parse_source_time(s.as_bytes()), want, "{s:?}");
        }
    }

    #[test]
    fn db2_times() {
        let cases: &[(&str, Option<i64>)] = &[
            ("2026-01-28-07.25.12.000551", Some(micros(2026, 1, 28, 7, 25, 12, 551))),
            ("2026-01-28-07.25.12", Some(micros(2026, 1, 28, 7, 25, 12, 0))),
            ("2026-01-28-07.25.12.5", Some(micros(2026, 1, 28, 7, 25, 12, 500_000))),
            (
                "2024-12-31-23.59.59.999999",
                Some(micros(2024, 12, 31, 23, 59, 59, 999_999)),
            ),
            ("1970-01-01-00.00.00.000000", Some(0)),
            ("2024-02-29-00.00.00", Some(micros(2024, 2, 29, 0, 0, 0, 0))),
            ("2026-02-29-07.25.12.000551", None),
            ("2026-01-28-24.00.00", None),
            ("2026-01-28-07.60.12", None),
            ("2026-01-28-07.25.60", None),
            ("2026-01-28-07.25.12.", None),
            ("2026-01-28-07.25.12.0005511", None),
            ("2026-01-28-07.25.12.000551Z", None),
            ("2026-01-28T07:25:12", None),
            ("2026-01-28 07.25.12", None),
            ("2026-01-28-07:25:12", None),
            ("2026-01-28-07.25", None),
            ("0000-01-28-07.25.12", None),
            ("", None),
        ];
        for &(s, want) in cases {
            assert_eq!(parse_db2_time(s.as_bytes()), want, "{s:?}");
        }
    }

    /// Every sale time of 1 to 4 digits against a direct reading of the contract (the number HHMM).
    #[test]
    fn every_sale_time() {
        for len in 1..=4usize {
            for v in 0..10u32.pow(len as u32) {
                let text = format!("{v:0len$}");
                let (h, m) = (v / 100, v % 100);
                let want = if text == "0" {
                    Ok(None)
                } else if h <= 23 && m <= 59 {
                    Ok(Some((h * 100 + m) as i16))
                } else {
                    Err(())
                };
                assert_eq!(parse_sale_time(text.as_bytes()), want, "{text}");
            }
        }
    }
}
