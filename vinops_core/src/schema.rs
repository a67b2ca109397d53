//! The output schema: every column a parsed row has, in order, with its Arrow type. This table is the one
//! place the schema is written down; `vinops schema` prints it and the SQL staging table mirrors it.

use std::sync::{Arc, OnceLock};

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The Arrow type of an output column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int16,
    Int32,
    Int64,
    Float64,
    Bool,
    Text,
    Date,
    /// Timestamp(µs, "UTC").
    UtcTime,
    /// Timestamp(µs) without a zone.
    NaiveTime,
    /// List<Int16> of taxonomy codes.
    CodeList,
}

impl Kind {
    pub fn data_type(self) -> DataType {
        match self {
            Kind::Int16 => DataType::Int16,
            Kind::Int32 => DataType::Int32,
            Kind::Int64 => DataType::Int64,
            Kind::Float64 => DataType::Float64,
            Kind::Bool => DataType::Boolean,
            Kind::Text => DataType::Utf8,
            Kind::Date => DataType::Date32,
            Kind::UtcTime => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Kind::NaiveTime => DataType::Timestamp(TimeUnit::Microsecond, None),
            Kind::CodeList => DataType::List(Arc::new(Field::new("item", DataType::Int16, false))),
        }
    }
}

/// One output column: its name, type and what it holds.
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub nullable: bool,
    pub doc: &'static str,
}

const fn col(name: &'static str, kind: Kind, doc: &'static str) -> Column {
    Column { name, kind, nullable: true, doc }
}

/// Every output column in order. Index constants below name the positions the builders use.
pub const COLUMNS: &[Column] = &[
    Column { name: "lot_number", kind: Kind::Int64, nullable: false, doc: "`Lot number`: the lot's identity" },
    col("source_updated_at", Kind::UtcTime, "`Last Updated Time`: the last-write-wins key"),
    col("export_id", Kind::Int64, "`Id`: the row number of the export"),
    col("yard_number", Kind::Int32, "`Yard number`"),
    col("yard_name", Kind::Text, "`Yard name`"),
    col("sale_date", Kind::Date, "`Sale Date M/D/CY` (YYYYMMDD; 0 = not scheduled → NULL)"),
    col("sale_day_of_week", Kind::Text, "`Day of Week`"),
    col("sale_time_hhmm", Kind::Int16, "`Sale time (HHMM)` as a number (0 → NULL)"),
    col("time_zone_abbr", Kind::Text, "`Time Zone` as written (unreliable)"),
    col("sale_tz", Kind::Text, "IANA zone used for auction_at"),
    col("auction_at", Kind::UtcTime, "sale date + time in sale_tz, as UTC"),
    col("item_number", Kind::Int32, "`Item#` (0 = not yet in a sale run)"),
    col("vehicle_type", Kind::Text, "`Vehicle Type` (one letter)"),
    col("vehicle_type_code", Kind::Int16, "taxonomy `vehicle_type`"),
    col("year", Kind::Int16, "`Year`"),
    col("make", Kind::Text, "`Make`"),
    col("model_group", Kind::Text, "`Model Group`"),
    col("model_detail", Kind::Text, "`Model Detail`"),
    col("body_style", Kind::Text, "`Body Style`"),
    col("body_style_code", Kind::Int16, "taxonomy `body_style`"),
    col("color", Kind::Text, "`Color`"),
    col("color_code", Kind::Int16, "taxonomy `color`"),
    col("damage_primary", Kind::Text, "`Damage Description`"),
    col("damage_primary_code", Kind::Int16, "taxonomy `damage`"),
    col("damage_secondary", Kind::Text, "`Secondary Damage`"),
    col("damage_secondary_code", Kind::Int16, "taxonomy `damage`"),
    col("title_state", Kind::Text, "`Sale Title State`"),
    col("title_type", Kind::Text, "`Sale Title Type` (two letters; meaning depends on title_state)"),
    col("title_type_code", Kind::Int16, "taxonomy `title_type`"),
    col("has_keys", Kind::Text, "`Has Keys-Yes or No` (YES, NO, EXM)"),
    col("has_keys_code", Kind::Int16, "taxonomy `has_keys`"),
    col("lot_cond", Kind::Text, "`Lot Cond. Code` (D, S, E)"),
    col("lot_cond_code", Kind::Int16, "taxonomy `condition`"),
    col("vin", Kind::Text, "`VIN`, trimmed and upper-cased, otherwise unchanged"),
    col("vin_valid_iso", Kind::Bool, "17 characters of the ISO 3779 alphabet"),
    col("vin_check_digit_ok", Kind::Bool, "valid_iso and the check digit (position 9) is right"),
    col("vin_short_or_legacy", Kind::Bool, "fewer than 17 characters"),
    col("vin_model_year", Kind::Int16, "model year from position 10"),
    col("odometer", Kind::Float64, "`Odometer` (0 = no reading → NULL)"),
    col("odometer_brand", Kind::Text, "`Odometer Brand` (A, N, E, X)"),
    col("odometer_brand_code", Kind::Int16, "taxonomy `odometer_brand`"),
    col("retail_value_cents", Kind::Int64, "`Est. Retail Value` (alias `Lot ACV`) in cents of currency_code (0 → NULL)"),
    col("repair_cost_cents", Kind::Int64, "`Repair cost` in cents (0 → NULL)"),
    col("engine", Kind::Text, "`Engine`, inner whitespace collapsed"),
    col("drive", Kind::Text, "`Drive`"),
    col("drive_code", Kind::Int16, "taxonomy `drive`"),
    col("transmission", Kind::Text, "`Transmission`"),
    col("transmission_code", Kind::Int16, "taxonomy `transmission`"),
    col("fuel", Kind::Text, "`Fuel Type`"),
    col("fuel_code", Kind::Int16, "taxonomy `fuel`"),
    col("cylinders", Kind::Int16, "`Cylinders`"),
    col("runs_drives", Kind::Text, "`Runs/Drives`"),
    col("runs_drives_code", Kind::Int16, "taxonomy `condition`"),
    col("sale_status", Kind::Text, "`Sale Status` (the sale type, not an outcome)"),
    col("sale_status_code", Kind::Int16, "taxonomy `sale_type`"),
    col("high_bid_cents", Kind::Int64, "`High Bid =non-vix,Sealed=Vix` in cents (0 → NULL)"),
    col("special_note", Kind::Text, "`Special Note`"),
    col("location_city", Kind::Text, "`Location city`"),
    col("location_state", Kind::Text, "`Location state`"),
    col("location_zip", Kind::Text, "`Location ZIP`"),
    col("location_country", Kind::Text, "`Location country` (USA, CAN)"),
    col("currency_code", Kind::Text, "`Currency Code` (USD, CAD)"),
    col("image_thumbnail", Kind::Text, "`Image Thumbnail` (no scheme)"),
    col("export_created_at", Kind::NaiveTime, "`Create Date/Time` (the export's generation time, zone unknown)"),
    col("grid_row", Kind::Text, "`Grid/Row`"),
    col("make_offer_eligible", Kind::Bool, "`Make-an-Offer Eligible`"),
    col("buy_it_now_cents", Kind::Int64, "`Buy-It-Now Price` in cents (0 → NULL)"),
    col("image_url", Kind::Text, "`Image URL` (the lot-images API)"),
    col("trim", Kind::Text, "`Trim`"),
    col("rentals", Kind::Bool, "`Rentals`"),
    col("wholesale", Kind::Bool, "`Wholesale` (alias `Copart Select`)"),
    col("seller_name", Kind::Text, "`Seller Name`"),
    col("offsite_address1", Kind::Text, "`Offsite Address1`"),
    col("offsite_state", Kind::Text, "`Offsite State`"),
    col("offsite_city", Kind::Text, "`Offsite City`"),
    col("offsite_zip", Kind::Text, "`Offsite Zip`"),
    col("sale_light", Kind::Text, "`Sale Light`"),
    col("sale_light_code", Kind::Int16, "taxonomy `sale_light`"),
    col("autograde", Kind::Float64, "`AutoGrade`"),
    col("announcements", Kind::Text, "`Announcements` as written (a comma list)"),
    col("announcement_codes", Kind::CodeList, "taxonomy `announcement`, one code per known item"),
    Column { name: "source_row", kind: Kind::Int64, nullable: false, doc: "1-based index of the record among data records" },
    Column { name: "quote_repaired", kind: Kind::Bool, nullable: false, doc: "the tolerant quote rule was needed" },
    Column { name: "utf8_lossy", kind: Kind::Bool, nullable: false, doc: "some bytes were not UTF-8 and were replaced" },
    Column { name: "record_hash", kind: Kind::Int64, nullable: false, doc: "XXH3-64 of the record's raw bytes, seeded" },
];

/// The Arrow schema of every batch the reader yields.
pub fn schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(
                COLUMNS
                    .iter()
                    .map(|c| Field::new(c.name, c.kind.data_type(), c.nullable))
                    .collect::<Vec<_>>(),
            ))
        })
        .clone()
}

/// Position of a column by name (panics on a typo: names are compile-time constants).
pub fn index_of(name: &str) -> usize {
    COLUMNS.iter().position(|c| c.name == name).unwrap_or_else(|| panic!("no column {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for c in COLUMNS {
            assert!(seen.insert(c.name), "duplicate {}", c.name);
            assert!(c.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'), "{}", c.name);
        }
    }

    #[test]
    fn every_code_column_follows_its_text_column() {
        for (i, c) in COLUMNS.iter().enumerate() {
            if let Some(base) = c.name.strip_suffix("_code").filter(|_| c.name != "currency_code") {
                assert_eq!(COLUMNS[i - 1].name, base, "{} must follow {}", c.name, base);
                assert_eq!(c.kind, Kind::Int16);
            }
        }
    }
}
