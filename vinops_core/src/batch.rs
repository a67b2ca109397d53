//! One record's fields → one row appended to the column builders, or a quarantine reason.
//! Rows are converted in two phases: every fallible value is parsed first (so a quarantined row leaves no
//! trace in the builders), then all columns are appended in schema order.

use arrow_array::RecordBatch;
use rustc_hash::FxHashMap;

use crate::columns::Columns;
use crate::dialect::Row;
use crate::header::{HeaderMap, In, NAMES, N_IN};
use crate::schema::{self, Kind, COLUMNS};
use crate::taxonomy::{Domain, Matcher};
use crate::text::{collapse_into, trim};
use crate::zone::{UtcConverter, ZoneResolver};
use crate::{number, time, vin};

/// Why a row was not loaded: a stable code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: &'static str,
    pub detail: String,
}

/// Appends one row's values in schema order: each call takes the next column of its kind. In debug
/// builds every call checks the column's name and kind against the schema.
struct Writer<'a> {
    cols: &'a mut Columns,
    /// The row's bit in the validity words.
    shift: u32,
    at: usize,
    /// The next column of each kind: i16, i32, i64, f64, flag, text, date, time, code list.
    next: [usize; 9],
}

macro_rules! put {
    ($fn:ident, $field:ident, $slot:expr, $ty:ty, $($kind:pat_param)|+) => {
        #[inline(always)]
        fn $fn(&mut self, name: &str, value: Option<$ty>) {
            debug_assert_eq!(COLUMNS[self.at].name, name);
            debug_assert!(matches!(COLUMNS[self.at].kind, $($kind)|+), "column {name} is not {}", stringify!($fn));
            let k = self.next[$slot];
            self.cols.$field[k].push(value, self.shift);
            self.next[$slot] = k + 1;
            self.at += 1;
        }
    };
}

impl Writer<'_> {
    put!(i16, i16, 0, i16, Kind::Int16);
    put!(i32, i32, 1, i32, Kind::Int32);
    put!(i64, i64, 2, i64, Kind::Int64);
    put!(f64, f64, 3, f64, Kind::Float64);
    put!(flag, flags, 4, bool, Kind::Bool);
    put!(text, texts, 5, &str, Kind::Text);
    put!(date, dates, 6, i32, Kind::Date);
    put!(time, times, 7, i64, Kind::UtcTime | Kind::NaiveTime);
    put!(codes, codes, 8, &[i16], Kind::CodeList);
}

/// The values of one row that can fail to parse, parsed before anything is appended.
struct Typed {
    lot_number: i64,
    source_updated_at: Option<i64>,
    export_id: Option<i64>,
    yard_number: Option<i32>,
    sale_date: Option<i32>,
    sale_time: Option<i16>,
    item_number: Option<i32>,
    year: Option<i16>,
    odometer: Option<f64>,
    retail_value: Option<i64>,
    repair_cost: Option<i64>,
    cylinders: Option<i16>,
    high_bid: Option<i64>,
    export_created_at: Option<i64>,
    make_offer_eligible: Option<bool>,
    buy_it_now: Option<i64>,
    rentals: Option<bool>,
    wholesale: Option<bool>,
    autograde: Option<f64>,
}

#[cold]
#[inline(never)]
fn invalid(field: In, value: &str, what: &str) -> Rejection {
    Rejection { reason: "invalid_value", detail: format!("{}: '{}' is not a valid {}", NAMES[field as usize], value, what) }
}

/// The row's text per input field: trimmed, None when absent or empty.
type Inputs<'a> = [Option<&'a str>; N_IN];

fn int<T: TryFrom<i64>>(inputs: &Inputs, field: In) -> Result<Option<T>, Rejection> {
    match inputs[field as usize] {
        None => Ok(None),
        Some(s) => number::parse_int(s.as_bytes())
            .and_then(|v| T::try_from(v).ok())
            .map(Some)
            .ok_or_else(|| invalid(field, s, "integer")),
    }
}

fn money(inputs: &Inputs, field: In) -> Result<Option<i64>, Rejection> {
    match inputs[field as usize] {
        None => Ok(None),
        Some(s) => number::parse_cents(s.as_bytes()).ok_or_else(|| invalid(field, s, "amount")),
    }
}

fn decimal(inputs: &Inputs, field: In) -> Result<Option<f64>, Rejection> {
    match inputs[field as usize] {
        None => Ok(None),
        Some(s) => number::parse_decimal(s.as_bytes()).map(Some).ok_or_else(|| invalid(field, s, "number")),
    }
}

fn flag(inputs: &Inputs, field: In) -> Result<Option<bool>, Rejection> {
    match inputs[field as usize] {
        None => Ok(None),
        Some(s) => number::parse_flag(s.as_bytes()).map(Some).ok_or_else(|| invalid(field, s, "flag")),
    }
}

fn parsed<T>(inputs: &Inputs, field: In, what: &str, f: impl Fn(&[u8]) -> Option<T>) -> Result<Option<T>, Rejection> {
    match inputs[field as usize] {
        None => Ok(None),
        Some(s) => f(s.as_bytes()).map(Some).ok_or_else(|| invalid(field, s, what)),
    }
}

fn typed(inputs: &Inputs) -> Result<Typed, Rejection> {
    let lot_number = int::<i64>(inputs, In::LotNumber)?
        .ok_or_else(|| Rejection { reason: "missing_lot_number", detail: "Lot number is empty".to_string() })?;
    // The fields below are parsed in the order written, which is output-column order: of several invalid
    // values, the first in that order is the one reported (as the reference engine does).
    Ok(Typed {
        lot_number,
        source_updated_at: parsed(inputs, In::LastUpdatedTime, "timestamp", time::parse_source_time)?,
        export_id: int(inputs, In::Id)?,
        yard_number: int(inputs, In::YardNumber)?,
        sale_date: parsed(inputs, In::SaleDate, "date", |b| time::parse_sale_date(b).ok())?.flatten(),
        sale_time: parsed(inputs, In::SaleTime, "sale time", |b| time::parse_sale_time(b).ok())?.flatten(),
        item_number: int(inputs, In::ItemNumber)?,
        year: int(inputs, In::Year)?,
        odometer: decimal(inputs, In::Odometer)?.filter(|v| *v != 0.0),
        retail_value: money(inputs, In::EstRetailValue)?,
        repair_cost: money(inputs, In::RepairCost)?,
        cylinders: int(inputs, In::Cylinders)?,
        high_bid: money(inputs, In::HighBid)?,
        export_created_at: parsed(inputs, In::CreateDateTime, "timestamp", time::parse_db2_time)?,
        make_offer_eligible: flag(inputs, In::MakeOfferEligible)?,
        buy_it_now: money(inputs, In::BuyItNowPrice)?,
        rentals: flag(inputs, In::Rentals)?,
        wholesale: flag(inputs, In::Wholesale)?,
        autograde: decimal(inputs, In::AutoGrade)?,
    })
}

/// The taxonomy codes of one row (each lookup also counts the value, known or not, in the matcher).
struct Codes {
    vehicle_type: Option<i16>,
    body_style: Option<i16>,
    color: Option<i16>,
    damage_primary: Option<i16>,
    damage_secondary: Option<i16>,
    title_type: Option<i16>,
    has_keys: Option<i16>,
    lot_cond: Option<i16>,
    odometer_brand: Option<i16>,
    drive: Option<i16>,
    transmission: Option<i16>,
    fuel: Option<i16>,
    runs_drives: Option<i16>,
    sale_status: Option<i16>,
    sale_light: Option<i16>,
}

/// Looks up every categorical value of a row; the announcement codes go to `announcement_codes`.
fn lookup_codes(matcher: &mut Matcher, inputs: &Inputs, announcement_codes: &mut Vec<i16>) -> Codes {
    let get = |f: In| inputs[f as usize];
    let mut code = |domain: Domain, value: Option<&str>| value.and_then(|v| matcher.lookup(domain, v));
    let codes = Codes {
        vehicle_type: code(Domain::VehicleType, get(In::VehicleType)),
        body_style: code(Domain::BodyStyle, get(In::BodyStyle)),
        color: code(Domain::Color, get(In::Color)),
        damage_primary: code(Domain::Damage, get(In::DamageDescription)),
        damage_secondary: code(Domain::Damage, get(In::SecondaryDamage)),
        title_type: code(Domain::TitleType, get(In::SaleTitleType)),
        has_keys: code(Domain::HasKeys, get(In::HasKeys)),
        lot_cond: code(Domain::Condition, get(In::LotCondCode)),
        odometer_brand: code(Domain::OdometerBrand, get(In::OdometerBrand)),
        drive: code(Domain::Drive, get(In::Drive)),
        transmission: code(Domain::Transmission, get(In::Transmission)),
        fuel: code(Domain::Fuel, get(In::FuelType)),
        runs_drives: code(Domain::Condition, get(In::RunsDrives)),
        sale_status: code(Domain::SaleType, get(In::SaleStatus)),
        sale_light: code(Domain::SaleLight, get(In::SaleLight)),
    };
    announcement_codes.clear();
    if let Some(list) = get(In::Announcements) {
        for item in list.split(',').map(trim).filter(|i| !i.is_empty()) {
            if let Some(c) = code(Domain::Announcement, Some(item)) {
                announcement_codes.push(c);
            }
        }
    }
    codes
}

/// Records the reader left out because the caller already stores them: per record, its lot number, its
/// `source_row` and the position the caller gave its lot in [`BatchBuilder::set_known`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Unchanged {
    pub lots: Vec<i64>,
    pub rows: Vec<i64>,
    pub positions: Vec<u32>,
}

/// Builds batches row by row.
pub struct BatchBuilder {
    header: HeaderMap,
    /// `(input field, file column)` of every mapped field.
    mapped: Vec<(usize, usize)>,
    cols: Columns,
    rows: usize,
    matcher: Matcher,
    zones: ZoneResolver,
    utc: UtcConverter,
    vin: String,
    engine: String,
    codes: Vec<i16>,
    lossy: Vec<String>,
    seed: u64,
    /// Lot number → (record hash, position) of the records the caller already stores (see `set_known`).
    known: Option<FxHashMap<i64, (i64, u32)>>,
    unchanged: Unchanged,
}

impl BatchBuilder {
    /// `seed`: the seed of every row's `record_hash`.
    pub fn new(header: HeaderMap, matcher: Matcher, capacity: usize, seed: u64) -> Self {
        let mapped = header.column_of.iter().enumerate().filter_map(|(slot, col)| Some((slot, (*col)?))).collect();
        Self {
            header,
            mapped,
            cols: Columns::new(capacity),
            rows: 0,
            matcher,
            zones: ZoneResolver::new(),
            utc: UtcConverter::default(),
            vin: String::new(),
            engine: String::new(),
            codes: Vec::new(),
            lossy: Vec::new(),
            seed,
            known: None,
            unchanged: Unchanged::default(),
        }
    }

    pub fn header(&self) -> &HeaderMap {
        &self.header
    }

    pub fn matcher(&self) -> &Matcher {
        &self.matcher
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The records the caller already stores: `lots[i]` stores a record whose `record_hash` is
    /// `hashes[i]`. From now on a record whose lot stores its very hash (same bytes, same seed: the same row)
    /// is not converted: only its taxonomy values are counted (so the unknown-value counts do not depend on
    /// this), and it is listed in [`Self::take_unchanged`] with the position `i`.
    pub fn set_known(&mut self, lots: &[i64], hashes: &[i64]) {
        let mut map = FxHashMap::with_capacity_and_hasher(lots.len(), Default::default());
        for (i, (&lot, &hash)) in lots.iter().zip(hashes).enumerate() {
            map.insert(lot, (hash, i as u32));
        }
        self.known = Some(map);
    }

    /// The records left out as unchanged since the last call.
    pub fn take_unchanged(&mut self) -> Unchanged {
        std::mem::take(&mut self.unchanged)
    }

    /// Converts one record (with the header's width) and appends it, or says why not. `raw`: the record's
    /// bytes without its line break (what `record_hash` hashes).
    pub fn push(&mut self, fields: Row<'_>, raw: &[u8], source_row: u64, quote_repaired: bool) -> Result<(), Rejection> {
        debug_assert_eq!(fields.len(), self.header.width);
        let mut utf8_lossy = false;
        // Decode every mapped field; invalid UTF-8 is rare, so the lossy copies are made only then.
        let mut lossy = std::mem::take(&mut self.lossy);
        lossy.clear();
        let mut inputs: Inputs = [None; N_IN];
        if let Some(text) = fields.text() {
            for &(slot, col) in &self.mapped {
                let value = trim(text.get(col));
                inputs[slot] = if value.is_empty() { None } else { Some(value) };
            }
        } else {
            // Invalid UTF-8 is rare: only then are lossy copies made. The flag says a value was replaced, so
            // it is set by the fields that feed a column, not by ignored (extra) columns.
            for col in self.header.column_of.iter() {
                let text = col.map(|c| String::from_utf8_lossy(fields.get(c)));
                utf8_lossy |= matches!(text, Some(std::borrow::Cow::Owned(_)));
                lossy.push(text.map(|t| t.into_owned()).unwrap_or_default());
            }
            for (slot, text) in inputs.iter_mut().zip(lossy.iter()) {
                *slot = Some(trim(text)).filter(|s| !s.is_empty());
            }
        }
        let record_hash = xxhash_rust::xxh3::xxh3_64_with_seed(raw, self.seed) as i64;
        if let Some(known) = &self.known {
            if let Ok(Some(lot)) = int::<i64>(&inputs, In::LotNumber) {
                if let Some(&(hash, position)) = known.get(&lot) {
                    if hash == record_hash {
                        lookup_codes(&mut self.matcher, &inputs, &mut self.codes);
                        self.unchanged.lots.push(lot);
                        self.unchanged.rows.push(source_row as i64);
                        self.unchanged.positions.push(position);
                        self.lossy = lossy;
                        return Ok(());
                    }
                }
            }
        }
        let t = typed(&inputs);
        if let Ok(t) = &t {
            self.append(&inputs, t, source_row, quote_repaired, utf8_lossy, record_hash);
            self.rows += 1;
        }
        self.lossy = lossy;
        t.map(|_| ())
    }

    fn append(&mut self, inputs: &Inputs, t: &Typed, source_row: u64, quote_repaired: bool, utf8_lossy: bool, record_hash: i64) {
        let get = |f: In| inputs[f as usize];
        let Self { cols, matcher, zones, utc, vin: vin_buf, engine, codes, .. } = self;

        let tz = zones.resolve(get(In::YardName), get(In::LocationState), get(In::TimeZone));
        let auction_at = match (t.sale_date, t.sale_time, tz) {
            (Some(day), Some(hhmm), Some(tz)) => Some(utc.micros(tz, day, hhmm)),
            _ => None,
        };
        let vin = get(In::Vin).filter(|raw| vin::normalize_into(raw, vin_buf)).map(|_| vin_buf.as_str());
        let vin_info = vin.map(|v| vin::analyze(v, t.year));
        let engine = get(In::Engine).map(|e| {
            collapse_into(e, engine);
            engine.as_str()
        });
        let c = lookup_codes(matcher, inputs, codes);
        let announcements = get(In::Announcements);

        let shift = cols.shift();
        let mut w = Writer { cols, shift, at: 0, next: [0; 9] };
        w.i64("lot_number", Some(t.lot_number));
        w.time("source_updated_at", t.source_updated_at);
        w.i64("export_id", t.export_id);
        w.i32("yard_number", t.yard_number);
        w.text("yard_name", get(In::YardName));
        w.date("sale_date", t.sale_date);
        w.text("sale_day_of_week", get(In::DayOfWeek));
        w.i16("sale_time_hhmm", t.sale_time);
        w.text("time_zone_abbr", get(In::TimeZone));
        w.text("sale_tz", tz.map(|z| z.name()));
        w.time("auction_at", auction_at);
        w.i32("item_number", t.item_number);
        w.text("vehicle_type", get(In::VehicleType));
        w.i16("vehicle_type_code", c.vehicle_type);
        w.i16("year", t.year);
        w.text("make", get(In::Make));
        w.text("model_group", get(In::ModelGroup));
        w.text("model_detail", get(In::ModelDetail));
        w.text("body_style", get(In::BodyStyle));
        w.i16("body_style_code", c.body_style);
        w.text("color", get(In::Color));
        w.i16("color_code", c.color);
        w.text("damage_primary", get(In::DamageDescription));
        w.i16("damage_primary_code", c.damage_primary);
        w.text("damage_secondary", get(In::SecondaryDamage));
        w.i16("damage_secondary_code", c.damage_secondary);
        w.text("title_state", get(In::SaleTitleState));
        w.text("title_type", get(In::SaleTitleType));
        w.i16("title_type_code", c.title_type);
        w.text("has_keys", get(In::HasKeys));
        w.i16("has_keys_code", c.has_keys);
        w.text("lot_cond", get(In::LotCondCode));
        w.i16("lot_cond_code", c.lot_cond);
        w.text("vin", vin);
        w.flag("vin_valid_iso", vin_info.map(|i| i.valid_iso));
        w.flag("vin_check_digit_ok", vin_info.map(|i| i.check_digit_ok));
        w.flag("vin_short_or_legacy", vin_info.map(|i| i.short_or_legacy));
        w.i16("vin_model_year", vin_info.and_then(|i| i.model_year));
        w.f64("odometer", t.odometer);
        w.text("odometer_brand", get(In::OdometerBrand));
        w.i16("odometer_brand_code", c.odometer_brand);
        w.i64("retail_value_cents", t.retail_value);
        w.i64("repair_cost_cents", t.repair_cost);
        w.text("engine", engine);
        w.text("drive", get(In::Drive));
        w.i16("drive_code", c.drive);
        w.text("transmission", get(In::Transmission));
        w.i16("transmission_code", c.transmission);
        w.text("fuel", get(In::FuelType));
        w.i16("fuel_code", c.fuel);
        w.i16("cylinders", t.cylinders);
        w.text("runs_drives", get(In::RunsDrives));
        w.i16("runs_drives_code", c.runs_drives);
        w.text("sale_status", get(In::SaleStatus));
        w.i16("sale_status_code", c.sale_status);
        w.i64("high_bid_cents", t.high_bid);
        w.text("special_note", get(In::SpecialNote));
        w.text("location_city", get(In::LocationCity));
        w.text("location_state", get(In::LocationState));
        w.text("location_zip", get(In::LocationZip));
        w.text("location_country", get(In::LocationCountry));
        w.text("currency_code", get(In::CurrencyCode));
        w.text("image_thumbnail", get(In::ImageThumbnail));
        w.time("export_created_at", t.export_created_at);
        w.text("grid_row", get(In::GridRow));
        w.flag("make_offer_eligible", t.make_offer_eligible);
        w.i64("buy_it_now_cents", t.buy_it_now);
        w.text("image_url", get(In::ImageUrl));
        w.text("trim", get(In::Trim));
        w.flag("rentals", t.rentals);
        w.flag("wholesale", t.wholesale);
        w.text("seller_name", get(In::SellerName));
        w.text("offsite_address1", get(In::OffsiteAddress1));
        w.text("offsite_state", get(In::OffsiteState));
        w.text("offsite_city", get(In::OffsiteCity));
        w.text("offsite_zip", get(In::OffsiteZip));
        w.text("sale_light", get(In::SaleLight));
        w.i16("sale_light_code", c.sale_light);
        w.f64("autograde", t.autograde);
        w.text("announcements", announcements);
        w.codes("announcement_codes", announcements.map(|_| codes.as_slice()));
        w.i64("source_row", Some(source_row as i64));
        w.flag("quote_repaired", Some(quote_repaired));
        w.flag("utf8_lossy", Some(utf8_lossy));
        w.i64("record_hash", Some(record_hash));
        debug_assert_eq!(w.at, COLUMNS.len());
        cols.end_row();
    }

    /// The rows so far as one batch (None when there are none); the builders start empty again.
    pub fn finish(&mut self) -> Option<RecordBatch> {
        if self.rows == 0 {
            return None;
        }
        let arrays = self.cols.finish();
        self.rows = 0;
        Some(RecordBatch::try_new(schema::schema(), arrays).expect("builders follow the schema"))
    }
}
