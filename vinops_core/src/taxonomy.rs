//! Raw categorical value → taxonomy code (docs/normalization.md, "Taxonomy codes").
//! The mapping comes from Python (the reviewed files under `sql/taxonomy/`); matching is exact after
//! folding, and every value it cannot map is counted, never guessed.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

pub use crate::text::fold;
use crate::Error;

/// The taxonomy domains the reader matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    VehicleType,
    BodyStyle,
    Color,
    Damage,
    TitleType,
    HasKeys,
    Condition,
    OdometerBrand,
    Drive,
    Transmission,
    Fuel,
    SaleType,
    SaleLight,
    Announcement,
}

pub const DOMAINS: [Domain; 14] = [
    Domain::VehicleType,
    Domain::BodyStyle,
    Domain::Color,
    Domain::Damage,
    Domain::TitleType,
    Domain::HasKeys,
    Domain::Condition,
    Domain::OdometerBrand,
    Domain::Drive,
    Domain::Transmission,
    Domain::Fuel,
    Domain::SaleType,
    Domain::SaleLight,
    Domain::Announcement,
];

impl Domain {
    pub fn name(self) -> &'static str {
        match self {
            Domain::VehicleType => "vehicle_type",
            Domain::BodyStyle => "body_style",
            Domain::Color => "color",
            Domain::Damage => "damage",
            Domain::TitleType => "title_type",
            Domain::HasKeys => "has_keys",
            Domain::Condition => "condition",
            Domain::OdometerBrand => "odometer_brand",
            Domain::Drive => "drive",
            Domain::Transmission => "transmission",
            Domain::Fuel => "fuel",
            Domain::SaleType => "sale_type",
            Domain::SaleLight => "sale_light",
            Domain::Announcement => "announcement",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        DOMAINS.into_iter().find(|d| d.name() == name)
    }
}

/// Per-domain cache size limit: garbage in a column must not grow memory without bound.
const CACHE_LIMIT: usize = 4096;

#[derive(Default)]
struct DomainMatcher {
    /// Folded value → code.
    codes: FxHashMap<String, i16>,
    /// Trimmed raw value → result, so folding happens once per distinct spelling; for an unknown value
    /// also the cells it filled (values past the cache's limit are counted in `Matcher::unknown`).
    cache: FxHashMap<Key, (Option<i16>, u64)>,
    /// The same for values of at most [`INLINE`] bytes (nearly all), with the bytes in the table itself:
    /// a lookup reads one cache line instead of a hash table's control bytes, bucket and key allocation.
    short: ShortCache,
}

/// Longest value kept in a [`ShortCache`] slot.
const INLINE: usize = 34;

/// One slot of a [`ShortCache`]: 64 bytes, one cache line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Slot {
    /// The value's hash with the low bit set; 0 marks a free slot.
    hash: u64,
    unknown: u64,
    code: Option<i16>,
    len: u8,
    key: [u8; INLINE],
}

const FREE: Slot = Slot { hash: 0, unknown: 0, code: None, len: 0, key: [0; INLINE] };

/// Open addressing with linear probing, at most half full.
#[derive(Default)]
struct ShortCache {
    slots: Vec<Slot>,
    used: usize,
}

impl ShortCache {
    #[inline]
    fn hash(bytes: &[u8]) -> u64 {
        use std::hash::Hasher;
        let mut h = rustc_hash::FxHasher::default();
        h.write(bytes);
        h.finish() | 1
    }

    /// The slot of `bytes` (at most [`INLINE`] long), if cached.
    #[inline]
    fn get_mut(&mut self, bytes: &[u8], hash: u64) -> Option<&mut Slot> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            let slot = &self.slots[i];
            if slot.hash == hash && usize::from(slot.len) == bytes.len() && bytes_eq(&slot.key[..bytes.len()], bytes) {
                return Some(&mut self.slots[i]);
            }
            if slot.hash == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds `bytes` (at most [`INLINE`] long, not cached yet).
    fn insert(&mut self, bytes: &[u8], hash: u64, code: Option<i16>, unknown: u64) {
        if (self.used + 1) * 2 > self.slots.len() {
            let size = (self.slots.len() * 2).max(64);
            let old = std::mem::replace(&mut self.slots, vec![FREE; size]);
            self.used = 0;
            for slot in old.into_iter().filter(|s| s.hash != 0) {
                self.place(slot);
            }
        }
        let mut key = [0; INLINE];
        key[..bytes.len()].copy_from_slice(bytes);
        self.place(Slot { hash, unknown, code, len: bytes.len() as u8, key });
    }

    fn place(&mut self, slot: Slot) {
        let mask = self.slots.len() - 1;
        let mut i = slot.hash as usize & mask;
        while self.slots[i].hash != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = slot;
        self.used += 1;
    }

    fn iter(&self) -> impl Iterator<Item = &Slot> {
        self.slots.iter().filter(|s| s.hash != 0)
    }
}

/// A cache key. Values are short, so keys are compared inline, word by word, instead of through a call
/// to `memcmp` (which `str`'s equality makes).
#[derive(PartialEq, Eq, Hash)]
struct Key(Box<KeyRef>);

/// The borrowed form of [`Key`], so a `&str` looks the cache up without allocating.
#[repr(transparent)]
struct KeyRef(str);

impl std::hash::Hash for KeyRef {
    /// As `str` hashes, consistent with the byte equality below.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl KeyRef {
    fn new(s: &str) -> &KeyRef {
        // SAFETY: `KeyRef` is a `repr(transparent)` wrapper of `str`.
        unsafe { &*(s as *const str as *const KeyRef) }
    }
}

impl From<&str> for Key {
    fn from(s: &str) -> Key {
        let boxed: Box<str> = s.into();
        // SAFETY: as in `KeyRef::new`; the box's layout and allocation are unchanged.
        Key(unsafe { Box::from_raw(Box::into_raw(boxed) as *mut KeyRef) })
    }
}

impl std::borrow::Borrow<KeyRef> for Key {
    fn borrow(&self) -> &KeyRef {
        &self.0
    }
}

impl PartialEq for KeyRef {
    #[inline(always)]
    fn eq(&self, other: &KeyRef) -> bool {
        bytes_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for KeyRef {}

#[inline(always)]
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], i: usize| u64::from_le_bytes(s[i..i + 8].try_into().expect("8 bytes"));
    let half = |s: &[u8], i: usize| u32::from_le_bytes(s[i..i + 4].try_into().expect("4 bytes"));
    match n {
        0..=3 => a.iter().zip(b).all(|(x, y)| x == y),
        4..=8 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        _ => {
            let mut i = 0;
            while i + 8 < n {
                if word(a, i) != word(b, i) {
                    return false;
                }
                i += 8;
            }
            word(a, n - 8) == word(b, n - 8)
        }
    }
}

/// Matches values of the mapped domains and counts what it could not map.
#[derive(Default)]
pub struct Matcher {
    domains: [Option<DomainMatcher>; DOMAINS.len()],
    unknown: [FxHashMap<Box<str>, u64>; DOMAINS.len()],
    cells: u64,
}

impl Matcher {
    /// Builds the matcher from `(domain, [(raw value, code)])`. Two spellings that fold alike must agree.
    pub fn new<D, V>(mapping: D) -> Result<Self, Error>
    where
        D: IntoIterator<Item = (String, V)>,
        V: IntoIterator<Item = (String, i16)>,
    {
        let mut matcher = Matcher::default();
        for (name, values) in mapping {
            let domain = Domain::from_name(&name).ok_or_else(|| Error::Taxonomy(format!("unknown domain {name:?}")))?;
            let slot = matcher.domains[domain as usize].get_or_insert_with(DomainMatcher::default);
            for (raw, code) in values {
                let folded = fold(&raw);
                if folded.is_empty() {
                    continue;
                }
                if let Some(previous) = slot.codes.insert(folded.clone(), code) {
                    if previous != code {
                        return Err(Error::Taxonomy(format!(
                            "{name}: {raw:?} folds to {folded:?}, which is mapped to both {previous} and {code}"
                        )));
                    }
                }
            }
        }
        Ok(matcher)
    }

    pub fn is_mapped(&self, domain: Domain) -> bool {
        self.domains[domain as usize].is_some()
    }

    /// The code of a trimmed, non-empty value; counts the cell, and the value when it is unknown.
    /// Domains absent from the mapping are neither matched nor counted.
    #[inline]
    pub fn lookup(&mut self, domain: Domain, value: &str) -> Option<i16> {
        let slot = self.domains[domain as usize].as_mut()?;
        self.cells += 1;
        let bytes = value.as_bytes();
        if bytes.len() <= INLINE {
            let hash = ShortCache::hash(bytes);
            if let Some(hit) = slot.short.get_mut(bytes, hash) {
                hit.unknown += u64::from(hit.code.is_none());
                return hit.code;
            }
            return self.lookup_slow(domain, value, hash);
        }
        self.lookup_slow(domain, value, 0)
    }

    /// A value not in the short cache (`hash` is its short-cache hash, when it is short enough).
    #[cold]
    #[inline(never)]
    fn lookup_slow(&mut self, domain: Domain, value: &str, hash: u64) -> Option<i16> {
        let slot = self.domains[domain as usize].as_mut().expect("a mapped domain");
        let bytes = value.as_bytes();
        let short = bytes.len() <= INLINE;
        if short {
            // Not cached (the caller looked).
        } else if let Some((code, unknown)) = slot.cache.get_mut(KeyRef::new(value)) {
            *unknown += u64::from(code.is_none());
            return *code;
        }
        let code = slot.codes.get(&fold(value)).copied();
        if slot.cache.len() + slot.short.used < CACHE_LIMIT {
            if short {
                slot.short.insert(bytes, hash, code, u64::from(code.is_none()));
            } else {
                slot.cache.insert(value.into(), (code, u64::from(code.is_none())));
            }
        } else if code.is_none() {
            *self.unknown[domain as usize].entry(value.into()).or_insert(0) += 1;
        }
        code
    }

    /// Non-empty cells looked up in mapped domains (the denominator of the unknown rate).
    pub fn categorical_cells(&self) -> u64 {
        self.cells
    }

    /// Unknown values by domain name, each with the number of cells it filled.
    pub fn unknown(&self) -> BTreeMap<&'static str, BTreeMap<String, u64>> {
        let mut out = BTreeMap::new();
        for domain in DOMAINS {
            let mut counts: BTreeMap<String, u64> =
                self.unknown[domain as usize].iter().map(|(k, v)| (k.to_string(), *v)).collect();
            if let Some(slot) = &self.domains[domain as usize] {
                for (value, &(code, n)) in &slot.cache {
                    if code.is_none() {
                        *counts.entry(value.0 .0.to_string()).or_insert(0) += n;
                    }
                }
                for s in slot.short.iter().filter(|s| s.code.is_none()) {
                    // The key is a whole `&str` (≤ INLINE bytes) that was looked up.
                    let value = String::from_utf8_lossy(&s.key[..usize::from(s.len)]).into_owned();
                    *counts.entry(value).or_insert(0) += s.unknown;
                }
            }
            if !counts.is_empty() {
                out.insert(domain.name(), counts);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher() -> Matcher {
        Matcher::new(vec![
            ("drive".to_string(), vec![("Front-wheel Drive".to_string(), 5001), ("FRONT WHEEL DRIVE".to_string(), 5001)]),
            ("damage".to_string(), vec![("FRONT END".to_string(), 4001)]),
        ])
        .unwrap()
    }

    #[test]
    fn matches_both_vocabularies_and_counts_unknowns() {
        let mut m = matcher();
        assert_eq!(m.lookup(Domain::Drive, "front-WHEEL  drive"), Some(5001));
        assert_eq!(m.lookup(Domain::Drive, "FRONT WHEEL DRIVE"), Some(5001));
        assert_eq!(m.lookup(Domain::Drive, "HOVER"), None);
        assert_eq!(m.lookup(Domain::Drive, "HOVER"), None);
        assert_eq!(m.lookup(Domain::Damage, "FRONT END"), Some(4001));
        assert_eq!(m.lookup(Domain::Color, "RED"), None, "unmapped domain");
        assert_eq!(m.categorical_cells(), 5);
        let unknown = m.unknown();
        assert_eq!(unknown["drive"]["HOVER"], 2);
        assert!(!unknown.contains_key("color"));
    }

    #[test]
    fn unknown_counts_past_the_cache_limit() {
        let mut m = matcher();
        for round in 0..3 {
            for i in 0..CACHE_LIMIT + 10 {
                assert_eq!(m.lookup(Domain::Drive, &format!("X{i}")), None);
            }
            assert_eq!(m.lookup(Domain::Drive, "FRONT WHEEL DRIVE"), Some(5001), "{round}");
        }
        let unknown = m.unknown();
        assert_eq!(unknown["drive"].len(), CACHE_LIMIT + 10);
        assert!(unknown["drive"].values().all(|&n| n == 3));
        assert_eq!(m.categorical_cells(), 3 * (CACHE_LIMIT as u64 + 11));
    }

    #[test]
    fn inline_equality_is_byte_equality() {
        let words = ["", "a", "ab", "abc", "abcd", "abcde", "abcdefg", "abcdefgh", "abcdefghi", "abcdefghijklmnop", "abcdefghijklmnopq"];
        for a in words {
            for b in words {
                assert_eq!(bytes_eq(a.as_bytes(), b.as_bytes()), a == b);
                let mut c = b.as_bytes().to_vec();
                for i in 0..c.len() {
                    c[i] ^= 1;
                    assert_eq!(bytes_eq(a.as_bytes(), &c), a.as_bytes() == c.as_slice(), "{a:?} {c:?}");
                    c[i] ^= 1;
                }
            }
        }
    }

    #[test]
    fn short_and_long_values_alike() {
        let long = "FRONT WHEEL DRIVE".repeat(3);
        let mut m = Matcher::new(vec![("drive".to_string(), vec![(long.clone(), 7), ("4X4".to_string(), 8)])]).unwrap();
        let unknown_long = "Z".repeat(INLINE + 1);
        let unknown_edge = "Y".repeat(INLINE);
        for _ in 0..2 {
            assert_eq!(m.lookup(Domain::Drive, &long), Some(7));
            assert_eq!(m.lookup(Domain::Drive, &long.to_lowercase()), Some(7));
            assert_eq!(m.lookup(Domain::Drive, "4x4"), Some(8));
            assert_eq!(m.lookup(Domain::Drive, &unknown_long), None);
            assert_eq!(m.lookup(Domain::Drive, &unknown_edge), None);
            assert_eq!(m.lookup(Domain::Drive, "é"), None);
        }
        let unknown = m.unknown();
        assert_eq!(unknown["drive"].len(), 3);
        assert_eq!(unknown["drive"][&unknown_long], 2);
        assert_eq!(unknown["drive"][&unknown_edge], 2);
        assert_eq!(unknown["drive"]["é"], 2);
        assert_eq!(m.categorical_cells(), 12);
        // Many distinct short values: the table grows and keeps them all.
        for round in 0..2 {
            for i in 0..1000 {
                assert_eq!(m.lookup(Domain::Drive, &format!("v{i}")), None, "{round}");
            }
        }
        assert!(m.unknown()["drive"].values().all(|&n| n == 2));
    }

    #[test]
    fn nothing_fuzzy() {
        let mut m = matcher();
        assert_eq!(m.lookup(Domain::Drive, "FRONT WHEEL DRIV"), None);
        assert_eq!(m.lookup(Domain::Drive, "FRONTWHEEL DRIVE"), None);
    }

    #[test]
    fn conflicting_spellings_are_rejected() {
        let err = Matcher::new(vec![("fuel".to_string(), vec![("Gas".to_string(), 1), ("GAS".to_string(), 2)])]);
        assert!(matches!(err, Err(Error::Taxonomy(_))));
        assert!(matches!(Matcher::new(vec![("nope".to_string(), Vec::new())]), Err(Error::Taxonomy(_))));
    }
}
