//! The header row: which file column feeds which input field, matched by name (never by position).

use crate::text::{fold, trim};

/// Every input field the feed has had, by its current header name. The discriminant indexes [`NAMES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum In {
    Id,
    YardNumber,
    YardName,
    SaleDate,
    DayOfWeek,
    SaleTime,
    TimeZone,
    ItemNumber,
    LotNumber,
    VehicleType,
    Year,
    Make,
    ModelGroup,
    ModelDetail,
    BodyStyle,
    Color,
    DamageDescription,
    SecondaryDamage,
    SaleTitleState,
    SaleTitleType,
    HasKeys,
    LotCondCode,
    Vin,
    Odometer,
    OdometerBrand,
    EstRetailValue,
    RepairCost,
    Engine,
    Drive,
    Transmission,
    FuelType,
    Cylinders,
    RunsDrives,
    SaleStatus,
    HighBid,
    SpecialNote,
    LocationCity,
    LocationState,
    LocationZip,
    LocationCountry,
    CurrencyCode,
    ImageThumbnail,
    CreateDateTime,
    GridRow,
    MakeOfferEligible,
    BuyItNowPrice,
    ImageUrl,
    Trim,
    LastUpdatedTime,
    Rentals,
    Wholesale,
    SellerName,
    OffsiteAddress1,
    OffsiteState,
    OffsiteCity,
    OffsiteZip,
    SaleLight,
    AutoGrade,
    Announcements,
}

/// Number of input fields.
pub const N_IN: usize = In::Announcements as usize + 1;

/// Current header names, indexed by [`In`] (the 59-column header of 2025-10 with `Wholesale` at #51).
pub const NAMES: [&str; N_IN] = [
    "Id",
    "Yard number",
    "Yard name",
    "Sale Date M/D/CY",
    "Day of Week",
    "Sale time (HHMM)",
    "Time Zone",
    "Item#",
    "Lot number",
    "Vehicle Type",
    "Year",
    "Make",
    "Model Group",
    "Model Detail",
    "Body Style",
    "Color",
    "Damage Description",
    "Secondary Damage",
    "Sale Title State",
    "Sale Title Type",
    "Has Keys-Yes or No",
    "Lot Cond. Code",
    "VIN",
    "Odometer",
    "Odometer Brand",
    "Est. Retail Value",
    "Repair cost",
    "Engine",
    "Drive",
    "Transmission",
    "Fuel Type",
    "Cylinders",
    "Runs/Drives",
    "Sale Status",
    "High Bid =non-vix,Sealed=Vix",
    "Special Note",
    "Location city",
    "Location state",
    "Location ZIP",
    "Location country",
    "Currency Code",
    "Image Thumbnail",
    "Create Date/Time",
    "Grid/Row",
    "Make-an-Offer Eligible",
    "Buy-It-Now Price",
    "Image URL",
    "Trim",
    "Last Updated Time",
    "Rentals",
    "Wholesale",
    "Seller Name",
    "Offsite Address1",
    "Offsite State",
    "Offsite City",
    "Offsite Zip",
    "Sale Light",
    "AutoGrade",
    "Announcements",
];

/// Older names of the same fields.
pub const ALIASES: &[(&str, In)] = &[("Copart Select", In::Wholesale), ("Lot ACV", In::EstRetailValue)];

#[derive(Clone, Copy)]
enum Lookup {
    Current,
    Alias,
}

fn lookup(folded: &str, which: Lookup) -> Option<In> {
    match which {
        Lookup::Current => NAMES.iter().position(|n| fold(n) == folded).map(|i| ALL[i]),
        Lookup::Alias => ALIASES.iter().find(|(n, _)| fold(n) == folded).map(|(_, f)| *f),
    }
}

/// Every [`In`] in discriminant order.
pub const ALL: [In; N_IN] = {
    use In::*;
    [
        Id, YardNumber, YardName, SaleDate, DayOfWeek, SaleTime, TimeZone, ItemNumber, LotNumber, VehicleType, Year, Make,
        ModelGroup, ModelDetail, BodyStyle, Color, DamageDescription, SecondaryDamage, SaleTitleState, SaleTitleType,
        HasKeys, LotCondCode, Vin, Odometer, OdometerBrand, EstRetailValue, RepairCost, Engine, Drive, Transmission,
        FuelType, Cylinders, RunsDrives, SaleStatus, HighBid, SpecialNote, LocationCity, LocationState, LocationZip,
        LocationCountry, CurrencyCode, ImageThumbnail, CreateDateTime, GridRow, MakeOfferEligible, BuyItNowPrice, ImageUrl,
        Trim, LastUpdatedTime, Rentals, Wholesale, SellerName, OffsiteAddress1, OffsiteState, OffsiteCity, OffsiteZip,
        SaleLight, AutoGrade, Announcements,
    ]
};

/// The header of one file, resolved.
#[derive(Debug, Clone)]
pub struct HeaderMap {
    /// File column of each input field, or None when the file lacks it (its values are NULL).
    pub column_of: [Option<usize>; N_IN],
    /// Number of columns in the file: every row must have exactly this many fields.
    pub width: usize,
    /// Header names that feed nothing (unknown, or a second column for a field already mapped).
    pub extra_columns: Vec<String>,
    /// Known fields absent from this file, by current name.
    pub missing: Vec<&'static str>,
}

impl HeaderMap {
    /// Maps decoded header names. Fails only when `Lot number` is absent (the caller names the error).
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Option<Self> {
        let mut column_of = [None; N_IN];
        let folded: Vec<String> = names.iter().map(|n| fold(n.as_ref())).collect();
        // Current names first, then aliases: when a file has both spellings, the current one feeds the field.
        let mut used = vec![false; names.len()];
        for pass in [Lookup::Current, Lookup::Alias] {
            for (col, name) in folded.iter().enumerate() {
                if let Some(field) = lookup(name, pass) {
                    if !used[col] && column_of[field as usize].is_none() {
                        column_of[field as usize] = Some(col);
                        used[col] = true;
                    }
                }
            }
        }
        let extra_columns =
            names.iter().zip(&used).filter(|(_, u)| !**u).map(|(n, _)| trim(n.as_ref()).to_string()).collect();
        column_of[In::LotNumber as usize]?;
        let missing = ALL.iter().filter(|f| column_of[**f as usize].is_none()).map(|f| NAMES[*f as usize]).collect();
        Some(Self { column_of, width: names.len(), extra_columns, missing })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_matches_discriminants() {
        for (i, f) in ALL.iter().enumerate() {
            assert_eq!(*f as usize, i);
        }
    }

    #[test]
    fn current_header_maps_every_field() {
        let names: Vec<&str> = NAMES.to_vec();
        let h = HeaderMap::from_names(&names).unwrap();
        assert!(h.missing.is_empty());
        assert!(h.extra_columns.is_empty());
        assert_eq!(h.column_of[In::HighBid as usize], Some(34));
    }

    #[test]
    fn names_fold_and_aliases_map() {
        let h = HeaderMap::from_names(&["  lot   NUMBER ", "Copart Select", "Wholesale", "Lot ACV", "Mystery"]).unwrap();
        assert_eq!(h.column_of[In::LotNumber as usize], Some(0));
        assert_eq!(h.column_of[In::Wholesale as usize], Some(2), "the current name wins over the alias");
        assert_eq!(h.column_of[In::EstRetailValue as usize], Some(3));
        assert_eq!(h.extra_columns, vec!["Copart Select", "Mystery"]);
        assert_eq!(h.width, 5);
    }

    #[test]
    fn lot_number_is_required() {
        assert!(HeaderMap::from_names(&["VIN", "Year"]).is_none());
    }
}
