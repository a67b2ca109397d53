//! Numbers as the feed writes them (docs/normalization.md, "Values"). Inputs are already trimmed and non-empty.
//!
//! Every parser checks the grammar byte by byte and never allocates; none of them panics on any input.

/// Splits an optional leading `-`. Returns (negative, rest).
#[inline]
fn split_sign(s: &[u8]) -> (bool, &[u8]) {
    match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    }
}

/// `[0-9]+`, nothing else.
#[inline]
fn all_digits(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(u8::is_ascii_digit)
}

/// Splits `-?[0-9]+(\.[0-9]+)?` into (negative, integer digits, fraction digits); None on any other text.
#[inline]
fn split_decimal(s: &[u8]) -> Option<(bool, &[u8], &[u8])> {
    let (neg, rest) = split_sign(s);
    // Values are short: a plain scan beats a call to memchr.
    let (int, frac) = match rest.iter().position(|&b| b == b'.') {
        Some(dot) => {
            let frac = &rest[dot + 1..];
            if !all_digits(frac) {
                return None;
            }
            (&rest[..dot], frac)
        }
        None => (rest, &rest[rest.len()..]),
    };
    if !all_digits(int) {
        return None;
    }
    Some((neg, int, frac))
}

/// `-?[0-9]+` that fits an i64.
pub fn parse_int(s: &[u8]) -> Option<i64> {
    let (neg, digits) = split_sign(s);
    if digits.is_empty() {
        return None;
    }
    // Accumulate on the negative side so that i64::MIN parses too.
    let mut acc: i64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        acc = acc.checked_mul(10)?.checked_sub(i64::from(b - b'0'))?;
    }
    if neg {
        Some(acc)
    } else {
        acc.checked_neg()
    }
}

/// Money `-?[0-9]+(\.[0-9]+)?` → cents, rounded half away from zero from the exact decimal.
/// Returns Some(None) for any zero value ("no figure"), None when the text is not money.
///
/// Reading (shared with the Python reference engine): NULL when the decimal itself is zero (`0`, `0.0`,
/// `-0.00`, `000`); a non-zero amount under half a cent (`0.004`) is `Some(Some(0))`.
/// A value whose cents do not fit an i64 is not money (None).
pub fn parse_cents(s: &[u8]) -> Option<Option<i64>> {
    if let Some(cents) = cents_fast(s) {
        return Some(cents);
    }
    cents_checked(s)
}

/// [`parse_cents`] in one pass for valid text of at most 16 bytes, which cannot overflow (at most 16
/// integer digits: under 10^18 cents); None for anything else, which [`cents_checked`] then decides.
#[inline]
fn cents_fast(s: &[u8]) -> Option<Option<i64>> {
    if s.len() > 16 {
        return None;
    }
    let (neg, rest) = split_sign(s);
    let mut int: u64 = 0;
    let mut i = 0;
    while i < rest.len() && rest[i].is_ascii_digit() {
        int = int * 10 + u64::from(rest[i] - b'0');
        i += 1;
    }
    if i == 0 {
        return None;
    }
    let mut cents = int * 100;
    let mut frac_zero = true;
    if i < rest.len() {
        if rest[i] != b'.' || i + 1 == rest.len() {
            return None;
        }
        for (k, &b) in rest[i + 1..].iter().enumerate() {
            if !b.is_ascii_digit() {
                return None;
            }
            let d = u64::from(b - b'0');
            frac_zero &= d == 0;
            match k {
                0 => cents += 10 * d,
                1 => cents += d,
                2 => cents += u64::from(d >= 5),
                _ => {}
            }
        }
    }
    if int == 0 && frac_zero {
        return Some(None);
    }
    // Under 10^18, so it fits an i64.
    let cents = cents as i64;
    Some(Some(if neg { -cents } else { cents }))
}

/// [`parse_cents`] for any text, with overflow checks.
fn cents_checked(s: &[u8]) -> Option<Option<i64>> {
    let (neg, int, frac) = split_decimal(s)?;
    // Magnitude in cents, exact: integer digits, then the first two fraction digits (missing ones are 0).
    let mut mag: u64 = 0;
    for &b in int {
        mag = mag.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    for i in 0..2 {
        let d = frac.get(i).map_or(0, |&b| b - b'0');
        mag = mag.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    // Half away from zero on the exact decimal: everything past the cents is ≥ half a cent exactly
    // when the third fraction digit is 5 or more (the digits after it can only add to it).
    if let Some(&b) = frac.get(2) {
        if b >= b'5' {
            mag = mag.checked_add(1)?;
        }
    }
    if mag == 0 && int.iter().chain(frac).all(|&b| b == b'0') {
        return Some(None);
    }
    let cents = if neg {
        // -2^63 fits; anything larger in magnitude does not.
        if mag > 1u64 << 63 {
            return None;
        }
        (mag as i64).wrapping_neg()
    } else {
        i64::try_from(mag).ok()?
    };
    Some(Some(cents))
}

/// `-?[0-9]+(\.[0-9]+)?` → f64 (correctly rounded, as Rust's and Python's float parsers do).
///
/// Digits beyond the f64 range give ±infinity, as Python's `float()` does for such text.
pub fn parse_decimal(s: &[u8]) -> Option<f64> {
    let (neg, int, frac) = split_decimal(s)?;
    // Fast path (Clinger): with at most 15 digits the digits as an integer are exact in an f64, and so
    // is 10^k for k ≤ 22, so one IEEE division gives the correctly rounded value, as the full parser does.
    if int.len() + frac.len() <= 15 {
        let mantissa = int.iter().chain(frac).fold(0u64, |m, &b| m * 10 + u64::from(b - b'0'));
        let v = mantissa as f64 / POW10[frac.len()];
        return Some(if neg { -v } else { v });
    }
    // The grammar is pure ASCII, so this cannot fail; Rust's parser is correctly rounded.
    std::str::from_utf8(s).ok()?.parse::<f64>().ok()
}

/// 10^0 ..= 10^15, all exact in an f64.
const POW10: [f64; 16] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/// `Y YES TRUE 1` / `N NO FALSE 0`, any case.
pub fn parse_flag(s: &[u8]) -> Option<bool> {
    let eq = |word: &[u8]| s.eq_ignore_ascii_case(word);
    match s.len() {
        1 => match s[0] {
            b'Y' | b'y' | b'1' => Some(true),
            b'N' | b'n' | b'0' => Some(false),
            _ => None,
        },
        2 if eq(b"NO") => Some(false),
        3 if eq(b"YES") => Some(true),
        4 if eq(b"TRUE") => Some(true),
        5 if eq(b"FALSE") => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{each_string, XorShift};

    #[test]
    fn ints() {
        let cases: &[(&str, Option<i64>)] = &[
            ("0", Some(0)),
            ("-0", Some(0)),
            ("007", Some(7)),
            ("2026", Some(2026)),
            ("-15", Some(-15)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("00000000000000000000009223372036854775807", Some(i64::MAX)),
            // Overflow.
            ("9223372036854775808", None),
            ("-9223372036854775809", None),
            ("99999999999999999999999", None),
            // Garbage.
            ("", None),
            ("-", None),
            ("+5", None),
            ("--5", None),
            ("5-", None),
            ("1.0", None),
            ("1e3", None),
            (" 1", None),
            ("1 ", None),
            ("１", None),
            ("0x10", None),
        ];
        for &(s, want) in cases {
            assert_eq!(parse_int(s.as_bytes()), want, "{s:?}");
        }
    }

    #[test]
    fn cents() {
        let cases: &[(&str, Option<Option<i64>>)] = &[
            ("12563.0", Some(Some(1_256_300))),
            ("12563", Some(Some(1_256_300))),
            ("0.5", Some(Some(50))),
            ("1.05", Some(Some(105))),
            ("-1.05", Some(Some(-105))),
            // Rounding half away from zero on the exact decimal (no binary floating point).
            ("20314.235", Some(Some(2_031_424))),
            ("20314.234999999", Some(Some(2_031_423))),
            ("20314.2350000001", Some(Some(2_031_424))),
            ("-20314.235", Some(Some(-2_031_424))),
            ("0.005", Some(Some(1))),
            ("-0.005", Some(Some(-1))),
            ("0.015", Some(Some(2))),
            ("1.005", Some(Some(101))),
            ("2.675", Some(Some(268))),
            ("0.994", Some(Some(99))),
            ("0.995", Some(Some(100))),
            ("-0.995", Some(Some(-100))),
            ("9.999", Some(Some(1000))),
            // Non-zero but under half a cent: 0 cents, not "no figure".
            ("0.004", Some(Some(0))),
            ("-0.0049", Some(Some(0))),
            ("0.0000001", Some(Some(0))),
            // Every zero is "no figure".
            ("0", Some(None)),
            ("0.0", Some(None)),
            ("-0.0", Some(None)),
            ("000.000000", Some(None)),
            ("-0", Some(None)),
            // Limits: i64 cents.
            ("92233720368547758.07", Some(Some(i64::MAX))),
            ("-92233720368547758.08", Some(Some(i64::MIN))),
            ("92233720368547758.08", None),
            ("92233720368547758.065", Some(Some(i64::MAX))),
            ("92233720368547758.075", None),
            ("-92233720368547758.085", None),
            ("-92233720368547758.09", None),
            ("184467440737095516.15", None),
            ("99999999999999999999999.0", None),
            ("0000000000000000000000000001.00", Some(Some(100))),
            // Garbage.
            ("", None),
            ("-", None),
            (".5", None),
            ("5.", None),
            ("-.5", None),
            ("+5.0", None),
            ("1,000.00", None),
            ("1.2.3", None),
            ("1e3", None),
            ("NaN", None),
            ("inf", None),
            ("$5", None),
            ("5.0 ", None),
        ];
        for &(s, want) in cases {
            assert_eq!(parse_cents(s.as_bytes()), want, "{s:?}");
        }
    }

    /// The one-pass path agrees with the checked one wherever it answers.
    #[test]
    fn cents_fast_agrees() {
        each_string(b"-.0159x", 7, |buf| {
            if let Some(fast) = cents_fast(buf) {
                assert_eq!(Some(fast), cents_checked(buf), "{:?}", String::from_utf8_lossy(buf));
            }
        });
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..200_000 {
            let x = rng.next();
            let digits = format!("{}", x % 10u64.pow(1 + (x >> 40) as u32 % 18));
            let cut = 1 + (x >> 20) as usize % digits.len();
            let text = if cut == digits.len() { digits.clone() } else { format!("{}.{}", &digits[..cut], &digits[cut..]) };
            for t in [text.clone(), format!("-{text}"), format!("00{text}")] {
                let fast = cents_fast(t.as_bytes());
                assert!(fast.is_some() || t.len() > 16, "{t}");
                if let Some(fast) = fast {
                    assert_eq!(Some(fast), cents_checked(t.as_bytes()), "{t}");
                }
            }
        }
    }

    #[test]
    fn decimals() {
        let cases: &[(&str, Option<f64>)] = &[
            ("172691.0", Some(172_691.0)),
            ("0", Some(0.0)),
            ("0.1", Some(0.1)),
            ("-2.5", Some(-2.5)),
            ("007.50", Some(7.5)),
            // Correct rounding (what Python's float() gives): 0.1 + 0.2 spelled out.
            ("0.30000000000000004", Some(0.300_000_000_000_000_04)),
            ("9007199254740993", Some(9_007_199_254_740_992.0)),
            ("9007199254740995", Some(9_007_199_254_740_996.0)),
            ("1.7976931348623157", Some(1.797_693_134_862_315_7)),
            // Garbage: the grammar is stricter than Rust's and Python's float parsers.
            ("", None),
            ("-", None),
            (".5", None),
            ("5.", None),
            ("+1", None),
            ("1e5", None),
            ("1E5", None),
            ("inf", None),
            ("NaN", None),
            ("infinity", None),
            ("1_000", None),
            (" 1", None),
        ];
        for &(s, want) in cases {
            assert_eq!(parse_decimal(s.as_bytes()), want, "{s:?}");
        }
        // -0 keeps its sign, as float("-0") does.
        let z = parse_decimal(b"-0.0").unwrap();
        assert!(z == 0.0 && z.is_sign_negative());
        // Beyond the f64 range: infinity, as float("1" * 400) in Python.
        let big = "9".repeat(400);
        assert_eq!(parse_decimal(big.as_bytes()), Some(f64::INFINITY));
        // The fast path agrees with the full parser (bit for bit) on every digit/fraction split.
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..200_000 {
            let x = rng.next();
            let digits = format!("{}", x % 10u64.pow(1 + (x >> 40) as u32 % 15));
            let text = if digits.len() < 2 || (x >> 50) % 3 == 0 {
                digits
            } else {
                let cut = 1 + (x >> 20) as usize % (digits.len() - 1);
                format!("{}.{}", &digits[..cut], &digits[cut..])
            };
            for t in [text.clone(), format!("-{text}"), format!("00{text}")] {
                let want: f64 = t.parse().unwrap();
                assert_eq!(parse_decimal(t.as_bytes()).map(f64::to_bits), Some(want.to_bits()), "{t}");
            }
        }
        // Many digits still round correctly (odometer-like text with a long fraction).
        let long = format!("1.{}", "0".repeat(500));
        assert_eq!(parse_decimal(long.as_bytes()), Some(1.0));
    }

    #[test]
    fn flags() {
        let cases: &[(&str, Option<bool>)] = &[
            ("Y", Some(true)),
            ("y", Some(true)),
            ("YES", Some(true)),
            ("Yes", Some(true)),
            ("TRUE", Some(true)),
            ("true", Some(true)),
            ("1", Some(true)),
            ("N", Some(false)),
            ("n", Some(false)),
            ("NO", Some(false)),
            ("no", Some(false)),
            ("FALSE", Some(false)),
            ("False", Some(false)),
            ("0", Some(false)),
            ("", None),
            ("EXM", None),
            ("YE", None),
            ("T", None),
            ("F", None),
            ("2", None),
            ("YESS", None),
            ("NOPE", None),
            ("TRUE ", None),
            ("01", None),
            ("ÿ", None),
        ];
        for &(s, want) in cases {
            assert_eq!(parse_flag(s.as_bytes()), want, "{s:?}");
        }
    }

    /// Every string up to 5 bytes over a small alphabet: no panic, and the three grammars agree.
    #[test]
    fn exhaustive_small_inputs() {
        each_string(b"-.059x", 5, |buf| {
            let text = std::str::from_utf8(buf).unwrap();
            let cents = parse_cents(buf);
            let dec = parse_decimal(buf);
            assert_eq!(cents.is_some(), dec.is_some(), "{text:?}");
            // Integers are exactly what Rust's parser accepts, minus a leading '+'.
            assert_eq!(parse_int(buf), text.parse::<i64>().ok(), "{text:?}");
            if let (Some(c), Some(d)) = (cents, dec) {
                match c {
                    None => assert_eq!(d, 0.0, "{text:?}"),
                    // Within half a cent (plus float noise: 9.905 * 100 is 990.4999… in binary).
                    Some(c) => assert!(((d * 100.0).abs() - (c.abs() as f64)).abs() <= 0.5 + 1e-9, "{text:?}"),
                }
            }
        });
    }
}
