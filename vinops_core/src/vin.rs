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

/// Length of a modern (ISO 3779) VIN.
const VIN_LEN: usize = 17;

/// The ASCII whitespace the contract trims: space, `\t`, `\n`, `\v`, `\f`, `\r`.
/// (`u8::is_ascii_whitespace` leaves out `\v`, so it is spelled out here.)
#[inline]
fn is_trim_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}

/// `raw` without leading and trailing ASCII whitespace. Only ASCII bytes are removed, so the result
/// is still valid UTF-8 on char boundaries.
#[inline]
fn trim_ascii_ws(raw: &str) -> &str {
    let b = raw.as_bytes();
    let mut start = 0;
    let mut end = b.len();
    while start < end && is_trim_space(b[start]) {
        start += 1;
    }
    while end > start && is_trim_space(b[end - 1]) {
        end -= 1;
    }
    &raw[start..end]
}

/// Writes the normalized VIN (ASCII-trimmed, ASCII letters upper-cased) into `out` (cleared first).
/// Returns false when nothing is left (the VIN is NULL).
pub fn normalize_into(raw: &str, out: &mut String) -> bool {
    out.clear();
    let t = trim_ascii_ws(raw);
    out.push_str(t);
    // Only ASCII letters change; every other character (I, O, Q included) stays as it is.
    out.make_ascii_uppercase();
    !out.is_empty()
}

/// Transliteration of each byte for the check digit: `value + 1` for the ISO 3779 alphabet
/// (`0-9 A-H J-N P R-Z`), 0 for every other byte (lower case included: inputs are normalized).
const TRANSLIT: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut d = 0;
    while d < 10 {
        t[(b'0' + d) as usize] = d + 1;
        d += 1;
    }
    // A-H = 1-8, J-N = 1-5, P = 7, R = 9, S-Z = 2-9 (I, O, Q and the rest stay invalid).
    let letters: [(u8, u8); 23] = [
        (b'A', 1),
        (b'B', 2),
        (b'C', 3),
        (b'D', 4),
        (b'E', 5),
        (b'F', 6),
        (b'G', 7),
        (b'H', 8),
        (b'J', 1),
        (b'K', 2),
        (b'L', 3),
        (b'M', 4),
        (b'N', 5),
        (b'P', 7),
        (b'R', 9),
        (b'S', 2),
        (b'T', 3),
        (b'U', 4),
        (b'V', 5),
        (b'W', 6),
        (b'X', 7),
        (b'Y', 8),
        (b'Z', 9),
    ];
    let mut i = 0;
    while i < letters.len() {
        t[letters[i].0 as usize] = letters[i].1 + 1;
        i += 1;
    }
    t
};

/// Position weights (position 9, the check digit itself, weighs 0).
const WEIGHTS: [u32; VIN_LEN] = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];

/// Model-year codes of position 10, in order: the code at index n names 1980 + n and 2010 + n.
const YEAR_CODES: &[u8; 30] = b"ABCDEFGHJKLMNPRSTVWXY123456789";

/// Index of `b` in [`YEAR_CODES`] (a 256-entry table: 0xFF = not a year code).
const YEAR_INDEX: [u8; 256] = {
    let mut t = [0xFFu8; 256];
    let mut i = 0;
    while i < YEAR_CODES.len() {
        t[YEAR_CODES[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// True when `vin` has 17 bytes, all in the ISO 3779 alphabet.
#[inline]
fn is_valid_iso(vin: &[u8]) -> bool {
    vin.len() == VIN_LEN && vin.iter().all(|&b| TRANSLIT[b as usize] != 0)
}

/// The check digit (`b'0'..=b'9'` or `b'X'`) of a 17-byte VIN in the ISO 3779 alphabet; None otherwise.
pub fn check_digit(vin: &[u8]) -> Option<u8> {
    if vin.len() != VIN_LEN {
        return None;
    }
    let mut sum = 0u32;
    for (&b, &w) in vin.iter().zip(WEIGHTS.iter()) {
        let v = TRANSLIT[b as usize];
        if v == 0 {
            return None;
        }
        sum += u32::from(v - 1) * w;
    }
    Some(match sum % 11 {
        10 => b'X',
        r => b'0' + r as u8,
    })
}

/// Flags and model year of a normalized VIN; `year` is the row's `Year`, used to pick the model-year cycle.
pub fn analyze(vin: &str, year: Option<i16>) -> VinInfo {
    let b = vin.as_bytes();
    let valid_iso = is_valid_iso(b);
    // "Fewer than 17 characters": characters, not bytes (a non-ASCII VIN counts its code points).
    let short_or_legacy = if b.len() < VIN_LEN {
        true
    } else {
        !b.is_ascii() && vin.chars().count() < VIN_LEN
    };
    if !valid_iso {
        return VinInfo {
            valid_iso,
            check_digit_ok: false,
            short_or_legacy,
            model_year: None,
        };
    }
    let check_digit_ok = check_digit(b) == Some(b[8]);
    let model_year = model_year(b, year);
    VinInfo {
        valid_iso,
        check_digit_ok,
        short_or_legacy,
        model_year,
    }
}

/// Model year of a VIN already known to be valid ISO 3779 (17 bytes).
fn model_year(b: &[u8], year: Option<i16>) -> Option<i16> {
    let n = YEAR_INDEX[b[9] as usize];
    if n == 0xFF {
        return None;
    }
    let early = 1980 + i32::from(n);
    let late = 2010 + i32::from(n);
    let chosen = match year {
        Some(y) => {
            let y = i32::from(y);
            // The nearer candidate wins; the later one on a tie.
            if (y - early).abs() < (y - late).abs() {
                early
            } else {
                late
            }
        }
        None => {
            if b[6].is_ascii_digit() {
                early
            } else {
                late
            }
        }
    };
    // 1980..=2039 always fits.
    Some(chosen as i16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real 17-character North-American VINs from data/copart/real-rows-147.csv whose check digit the
    /// Python oracle `vininfo` (`Vin(v).verify_checksum(check_year=False)`) accepts, with the row's
    /// `Year` and the model year expected with and without that Year.
    const REAL_VALID: &[(&str, i16, i16, i16)] = &[
        // vin, Year, model year with Year, model year without Year (position 7 decides)
        ("2C3CDYCJ2DH744113", 2013, 2013, 2013),
        ("3GNCA13D68S723720", 2008, 2008, 2008),
        ("1GNDT13WX2K135046", 2002, 2002, 2002),
        ("3FADP4BJXHM143529", 2017, 2017, 2017),
        ("1GBFG15R3X1118393", 1999, 1999, 1999),
        ("1HD1KTC13JB606191", 2018, 2018, 2018),
        ("1G8ZV577X7F202791", 2007, 2007, 2007),
        ("1FD0X5HT6HEC26786", 2017, 2017, 2017),
        // Position 7 is a letter, but the vehicle is from 1996: only the row's Year gets it right.
        ("1FUYDDYB9TH604472", 1996, 1996, 2026),
        ("5NPD74LF7JH265443", 2018, 2018, 2018),
        ("3GCPKTE38BG117644", 2011, 2011, 2011),
        ("3N1CN7AP8EL848045", 2014, 2014, 2014),
        ("1A8HX58P27F510458", 2007, 2007, 2007),
        ("5J8YD9H36NL001140", 2022, 2022, 2022),
        ("1ZVBP8EMXE5294982", 2014, 2014, 2014),
        ("1HGCD5658RA057556", 1994, 1994, 1994),
        ("1FTWW31R98EC00073", 2008, 2008, 2008),
        ("57XAARHBXL8137021", 2020, 2020, 2020),
        ("1HD1LM31XHC406898", 2017, 2017, 1987),
        ("1FMJU1H5XCEF34835", 2012, 2012, 2012),
        ("5GZCZ53445S813494", 2005, 2005, 2005),
        ("2HKYF185X3H617436", 2003, 2003, 2003),
        ("1GD072CF0F1143486", 2015, 2015, 2015),
        ("1M2AU14C0DM001744", 2013, 2013, 1983),
        ("1FUJGLDR2CLBJ9144", 2012, 2012, 2012),
        ("1NXBU4EE6AZ355088", 2010, 2010, 2010),
        ("1F66F5DY4H0A05304", 2017, 2017, 2017),
        ("3C6JR7BT4EG151086", 2014, 2014, 2014),
        ("2C8GP64L12R597667", 2002, 2002, 2002),
        ("3VV1B7AXXLM084866", 2020, 2020, 2020),
        ("1B3HB28B48D629720", 2008, 2008, 2008),
        ("1N6AD0ERXFN744746", 2015, 2015, 2015),
        ("4JGCB65E59A092532", 2009, 2009, 2009),
        ("1J4FA39S55P374030", 2005, 2005, 2005),
        ("1XP5DU9X12D582671", 2002, 2002, 2002),
        // Position 7 is a letter on a 2006 motorcycle: without the Year the rule says 2036.
        ("1HD1FYW186Y625904", 2006, 2006, 2036),
        ("1GCGG25V071136188", 2007, 2007, 2007),
        ("1M8GDM9AXKP042788", 1989, 1989, 1989),
    ];

    #[test]
    fn real_vins_check_digit_and_year() {
        for &(v, year, with_year, without_year) in REAL_VALID {
            let b = v.as_bytes();
            assert_eq!(check_digit(b), Some(b[8]), "{v}");
            let info = analyze(v, Some(year));
            assert_eq!(
                info,
                VinInfo {
                    valid_iso: true,
                    check_digit_ok: true,
                    short_or_legacy: false,
                    model_year: Some(with_year)
                },
                "{v}"
            );
            assert_eq!(analyze(v, None).model_year, Some(without_year), "{v} without Year");
        }
    }

    #[test]
    fn check_digit_values() {
        // Known check digits, X included.
        let cases: &[(&str, Option<u8>)] = &[
            ("1M8GDM9AXKP042788", Some(b'X')),
            ("1GNDT13WX2K135046", Some(b'X')),
            ("1HGCD5658RA057556", Some(b'8')),
            ("11111111111111111", Some(b'1')),
            ("00000000000000000", Some(b'0')),
            // Not 17 bytes, or outside the alphabet (I, O, Q, lower case, punctuation).
            ("1M8GDM9AXKP04278", None),
            ("1M8GDM9AXKP0427888", None),
            ("1M8GDM9AXKP04278I", None),
            ("1M8GDM9AXKP04278O", None),
            ("1M8GDM9AXKP04278Q", None),
            ("1m8gdm9axkp042788", None),
            ("1M8GDM9AXKP04278-", None),
            ("", None),
        ];
        for &(v, want) in cases {
            assert_eq!(check_digit(v.as_bytes()), want, "{v}");
        }
        // Position 9 does not count in its own digit.
        assert_eq!(check_digit(b"1M8GDM9A0KP042788"), Some(b'X'));
    }

    #[test]
    fn known_bad() {
        // (vin, valid_iso, check_digit_ok)
        let cases: &[(&str, bool, bool)] = &[
            // Real feed VIN whose check digit is wrong (vininfo agrees).
            ("5TENL42N64Z777931", true, false),
            // Real feed VINs in the ISO alphabet that are not North-American check-digit VINs.
            ("B1LL0FSALE3180086", true, false),
            ("A6M12EDCTJLA00747", true, false),
            // One digit changed in a valid VIN.
            ("1M8GDM9AXKP042789", true, false),
            ("1M8GDM9A1KP042788", true, false),
            ("1M8GDM9AXKP04278O", false, false),
            ("1M8GDM9AXKP04278Q", false, false),
            ("IM8GDM9AXKP042788", false, false),
            ("1M8GDM9AXKP0427-8", false, false),
        ];
        for &(v, iso, ok) in cases {
            let info = analyze(v, None);
            assert_eq!(
                (info.valid_iso, info.check_digit_ok, info.short_or_legacy),
                (iso, ok, false),
                "{v}"
            );
            if !iso {
                assert_eq!(info.model_year, None, "{v}");
            }
        }
    }

    #[test]
    fn short_and_legacy() {
        for v in [
            "10867S100838",
            "1784145",
            "44305R",
            "SC022004430",
            "BL3A31SB1687",
            "0A35H193437",
            "TAWN72N3WZ123321",
            "A",
        ] {
            let info = analyze(v, Some(1961));
            assert_eq!(
                info,
                VinInfo {
                    valid_iso: false,
                    check_digit_ok: false,
                    short_or_legacy: true,
                    model_year: None
                },
                "{v}"
            );
        }
        // 18 characters: neither ISO nor short.
        let info = analyze("1M8GDM9AXKP0427880", None);
        assert!(!info.valid_iso && !info.short_or_legacy);
        // 17 bytes but 16 characters (a 2-byte letter): short, not ISO.
        let v = "1M8GDM9AXKP0427É";
        assert_eq!(v.len(), 17);
        let info = analyze(v, None);
        assert!(!info.valid_iso && info.short_or_legacy);
        // 17 characters with a non-ASCII one: not short, not ISO.
        let info = analyze("1M8GDM9AXKP04278É", None);
        assert!(!info.valid_iso && !info.short_or_legacy);
    }

    #[test]
    fn normalize() {
        let cases: &[(&str, Option<&str>)] = &[
            ("1m8gdm9axkp042788", Some("1M8GDM9AXKP042788")),
            ("  1M8GDM9AXKP042788 \t\r\n", Some("1M8GDM9AXKP042788")),
            ("\x0b\x0c10867s100838\x0b", Some("10867S100838")),
            // I, O and Q are kept (upper-cased), inner spaces are kept.
            ("ioq 1o", Some("IOQ 1O")),
            // Non-ASCII stays as it is (no Unicode upper-casing), a no-break space is not trimmed.
            ("é1\u{a0}", Some("é1\u{a0}")),
            ("", None),
            (" \t\r\n\x0b\x0c", None),
        ];
        let mut out = String::from("leftover");
        for &(raw, want) in cases {
            let got = normalize_into(raw, &mut out);
            assert_eq!(got, want.is_some(), "{raw:?}");
            assert_eq!(out, want.unwrap_or(""), "{raw:?}");
        }
    }

    #[test]
    fn model_year_rules() {
        // Position 10 'A' = 1980 or 2010; position 7 '1' (digit) or 'A' (letter).
        let digit7 = "1GNDT1111AK135046";
        let letter7 = "1GNDT1A11AK135046";
        assert_eq!(analyze(digit7, None).model_year, Some(1980));
        assert_eq!(analyze(letter7, None).model_year, Some(2010));
        // The row's Year overrides position 7: the nearer candidate wins, the later one on a tie.
        let cases: &[(Option<i16>, i16)] = &[
            (Some(1980), 1980),
            (Some(1994), 1980),
            (Some(1995), 2010),
            (Some(1996), 2010),
            (Some(2030), 2010),
            (Some(0), 1980),
            (Some(-32768), 1980),
            (Some(32767), 2010),
        ];
        for &(year, want) in cases {
            assert_eq!(analyze(digit7, year).model_year, Some(want), "{year:?}");
            assert_eq!(analyze(letter7, year).model_year, Some(want), "{year:?}");
        }
        // Last code '9' = 2009 / 2039; 'Y' = 2000 / 2030; '1' = 2001 / 2031.
        assert_eq!(analyze("1GNDT1A119K135046", None).model_year, Some(2039));
        assert_eq!(analyze("1GNDT11119K135046", None).model_year, Some(2009));
        assert_eq!(analyze("1GNDT1111YK135046", Some(2029)).model_year, Some(2030));
        assert_eq!(analyze("1GNDT11111K135046", Some(2000)).model_year, Some(2001));
        // Position 10 not a year code (U, Z, 0): no model year, the other flags are unaffected.
        for v in ["1GNDT1111UK135046", "1GNDT1111ZK135046", "1GNDT11110K135046"] {
            let info = analyze(v, Some(2000));
            assert!(info.valid_iso, "{v}");
            assert_eq!(info.model_year, None, "{v}");
        }
    }
}
