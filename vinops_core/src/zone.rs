//! Which IANA zone a sale's wall-clock time is in (docs/normalization.md, "Auction time"), and the
//! conversion of that wall-clock time to UTC. The table is `python/vinops/data/zones.csv`, shared with
//! the Python reference engine.

use chrono_tz::Tz;

/// Resolves zones from the shared table; keeps a small cache, so one resolver per reader.
pub struct ZoneResolver {
    _private: (),
}

impl ZoneResolver {
    pub fn new() -> Self {
        todo!()
    }

    /// The zone by the rules' order: yard row, yard-name state prefix, location state, abbreviation.
    /// Inputs are trimmed text or None.
    pub fn resolve(&mut self, yard_name: Option<&str>, location_state: Option<&str>, abbreviation: Option<&str>) -> Option<Tz> {
        let _ = (yard_name, location_state, abbreviation);
        todo!()
    }
}

impl Default for ZoneResolver {
    fn default() -> Self {
        Self::new()
    }
}

/// Local date (days since 1970-01-01) + `HHMM` in `tz` → µs since the epoch, UTC. Ambiguous → earlier
/// instant; nonexistent → read with the offset in force before the gap.
pub fn local_to_utc_micros(tz: Tz, days: i32, hhmm: i16) -> i64 {
    let _ = (tz, days, hhmm);
    todo!()
}
