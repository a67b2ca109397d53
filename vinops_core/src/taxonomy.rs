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
    /// Trimmed raw value → result, so folding happens once per distinct spelling.
    cache: FxHashMap<Box<str>, Option<i16>>,
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
    pub fn lookup(&mut self, domain: Domain, value: &str) -> Option<i16> {
        let slot = self.domains[domain as usize].as_mut()?;
        self.cells += 1;
        let code = match slot.cache.get(value) {
            Some(code) => *code,
            None => {
                let code = slot.codes.get(&fold(value)).copied();
                if slot.cache.len() < CACHE_LIMIT {
                    slot.cache.insert(value.into(), code);
                }
                code
            }
        };
        if code.is_none() {
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
            let counts = &self.unknown[domain as usize];
            if !counts.is_empty() {
                out.insert(domain.name(), counts.iter().map(|(k, v)| (k.to_string(), *v)).collect());
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
