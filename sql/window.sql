-- The set-based upsert of one window, run by vinops.ingest in the window's transaction under the ingest
-- advisory lock. Parameters: %(load_id)s (the window's load id), %(window_at)s (the instant it describes).
--
-- staging.lots holds exactly this window's rows (it is emptied at the start and at the end of every window,
-- under the lock), so no statement filters it on load_id. The window reads the wide staging rows as few
-- times as it can: plan_keys decides what to do with every lot in one (parallel) pass and keeps, per lot
-- with something to do, the row hash and the vehicle columns (staging.lot_keys); new lots then go from
-- staging.lots straight into lots (insert_lots, the second pass); only the rows of lots that change or are
-- refused are copied into staging.lot_plan (plan_rows). Vehicles are planned from lot_keys alone
-- (staging.vehicle_plan holds the rows to write). A first load therefore never copies its rows into a
-- plan table before writing them.
--
-- Last write wins on the key (coalesce(source_updated_at, -infinity), source_window_at): a row only replaces
-- a lot (or a vehicle) whose key is older, so files may arrive in any order. A newer row whose values are
-- identical is not rewritten. lots.row_hash holds the parser's record_hash of the row the lot's values came
-- from (XXH3 of the record's bytes, seeded with a fingerprint of the header, taxonomy, zone table and
-- normalization version: docs/normalization.md §5), so an equal hash means equal values. The ingest reads
-- the (lot_number, row_hash) of the ACTIVE lots before the COPY and does not stage the rows that match
-- (they would be planned 'none'); it keeps their lot numbers for completion, passes the skipped copies of
-- lots listed twice to dedupe_lots and the skipped lots first seen later than this window to
-- plan_skipped_late, so the result is the one of staging every row. A different hash is only a candidate:
-- confirm_changes compares the candidates column by column (IS DISTINCT FROM); equal values are no update
-- (touch_lots moves the key if the Last Updated Time moved and stores the new hash), and lot_change_events
-- records the columns that really changed.
-- Column lists are explicit; tests/db/test_sql_contract.py checks that they cover every data column.

-- name: clear_staging
DROP TABLE IF EXISTS staging.lot_keys;
TRUNCATE staging.lots, staging.lot_plan, staging.vehicle_plan;

-- name: dedupe_lots
-- Run only when a lot number is listed twice in the file: the copy with the latest Last Updated Time (then
-- the later row) stays, the others leave staging (the lot stays present through the copy that stays).
-- Copies the ingest skipped as unchanged (their record hash is the lot's: see vinops.ingest) were never
-- staged; the ones whose lot number is listed twice are passed in (%(skipped_lots)s, %(skipped_rows)s,
-- %(skipped_updated)s: lot number, source_row, source_updated_at) and rank with the staged copies. When a
-- skipped copy wins, every staged copy of its lot leaves: the lot keeps its row, which is what the skipped
-- copy says (same record, same seed: same values), exactly as if that copy had been staged and planned
-- ('none'). When a staged copy wins, it is planned as it would have been.
DELETE FROM staging.lots s
USING (SELECT row_id,
              row_number() OVER (PARTITION BY lot_number
                                 ORDER BY source_updated_at DESC NULLS LAST, source_row DESC) AS rank
       FROM (SELECT ctid AS row_id, lot_number, source_updated_at, source_row
             FROM staging.lots
             WHERE lot_number IN (SELECT lot_number FROM staging.lots GROUP BY lot_number HAVING count(*) > 1)
                OR lot_number = ANY(%(skipped_lots)s::bigint[])
             UNION ALL
             SELECT NULL::tid, k.lot_number, k.source_updated_at, k.source_row
             FROM unnest(%(skipped_lots)s::bigint[], %(skipped_rows)s::bigint[], %(skipped_updated)s::timestamptz[])
                  AS k(lot_number, source_row, source_updated_at)) c) d
WHERE s.ctid = d.row_id AND d.rank > 1;

-- name: plan_keys
-- What the window does to each lot it lists, decided on narrow columns. Rows a table CHECK would refuse are
-- planned as 'refused' (quarantined with their typed values instead of failing the window: one bad row never
-- blocks the feed); the refusal tests mirror the CHECK constraints of lots and vehicles. Whether a row
-- may differ from its lot is decided on the parser's record hash (staging.lots.record_hash against
-- lots.row_hash): equal means equal values; a different hash is only a candidate ('update', or stale),
-- confirmed column by column by confirm_changes. Lots with nothing to do are left out. The hash is kept
-- (insert_lots, update_lots and touch_lots store it), and so are the vehicle columns (plan_vehicles reads
-- them). A CREATE TABLE AS (not an INSERT) so that PostgreSQL may scan, hash and join in parallel.
CREATE UNLOGGED TABLE staging.lot_keys WITH (autovacuum_enabled = off) AS
SELECT lot_number,
       CASE WHEN refusal IS NOT NULL THEN 'refused'
            WHEN is_new THEN 'insert'
            WHEN newer AND differs THEN 'update'
            WHEN newer AND moved THEN 'touch'
            ELSE 'none' END AS action,
       refusal,
       refusal IS NULL AND NOT is_new AND NOT newer AND differs AS stale,
       refusal IS NULL AND NOT is_new AND old_first_seen > %(window_at)s AS fix_first_seen,
       old_status,
       old_vin,
       row_hash,
       source_updated_at,
       vin,
       vin_valid_iso, vin_check_digit_ok, vin_short_or_legacy, vin_model_year, year, make, model_group,
       model_detail, trim, vehicle_type, vehicle_type_code, body_style, body_style_code, color, color_code,
       engine, drive, drive_code, transmission, transmission_code, fuel, fuel_code, cylinders
FROM (
    SELECT s.lot_number,
           nullif(concat_ws(', ',
               CASE WHEN (s.lot_number > 0) IS FALSE THEN 'lots_lot_number_positive' END,
               CASE WHEN (s.year BETWEEN 1900 AND 2100) IS FALSE THEN 'lots_year_range' END,
               CASE WHEN s.vin IS NOT NULL AND (s.year BETWEEN 1900 AND 2100) IS FALSE THEN 'vehicles_year_range' END,
               CASE WHEN (s.vin <> '' AND s.vin = upper(s.vin COLLATE "C")
                          AND s.vin = btrim(s.vin, E' \t\n\r\v\f')) IS FALSE THEN 'vehicles_vin_normalized' END,
               CASE WHEN (s.vin_model_year BETWEEN 1980 AND 2039) IS FALSE THEN 'vehicles_vin_model_year_range' END,
               CASE WHEN (s.sale_time_hhmm BETWEEN 0 AND 2359 AND mod(s.sale_time_hhmm, 100) < 60) IS FALSE
                    THEN 'lots_sale_time_valid' END,
               CASE WHEN (s.odometer >= 0) IS FALSE THEN 'lots_odometer_nonneg' END,
               CASE WHEN (s.retail_value_cents >= 0 AND s.repair_cost_cents >= 0 AND s.high_bid_cents >= 0
                          AND s.buy_it_now_cents >= 0) IS FALSE THEN 'lots_money_nonneg' END,
               CASE WHEN (s.auction_at IS NULL OR s.sale_date IS NOT NULL) IS FALSE THEN 'lots_auction_has_date' END,
               -- lots.retail_value_usd is numeric(14, 2): a larger USD value could not be stored
               CASE WHEN s.currency_code = 'USD' AND s.retail_value_cents >= 100000000000000
                    THEN 'lots_retail_value_usd' END),
               '') AS refusal,
           t.lot_number IS NULL AS is_new,
           (coalesce(s.source_updated_at, '-infinity'), %(window_at)s::timestamptz)
               > (coalesce(t.source_updated_at, '-infinity'), t.source_window_at) AS newer,
           s.row_hash IS DISTINCT FROM t.row_hash AS differs,
           s.source_updated_at IS DISTINCT FROM t.source_updated_at AS moved,
           t.first_seen_at AS old_first_seen,
           t.status AS old_status,
           t.vin AS old_vin,
           s.row_hash,
           s.source_updated_at,
           s.vin,
           s.vin_valid_iso, s.vin_check_digit_ok, s.vin_short_or_legacy, s.vin_model_year, s.year, s.make,
           s.model_group, s.model_detail, s.trim, s.vehicle_type, s.vehicle_type_code, s.body_style,
           s.body_style_code, s.color, s.color_code, s.engine, s.drive, s.drive_code, s.transmission,
           s.transmission_code, s.fuel, s.fuel_code, s.cylinders
    FROM (SELECT s.lot_number, s.source_updated_at, s.vin, s.year, s.vin_model_year, s.sale_time_hhmm, s.odometer,
                 s.retail_value_cents, s.repair_cost_cents, s.high_bid_cents, s.buy_it_now_cents, s.auction_at,
                 s.sale_date, s.currency_code,
                 s.vin_valid_iso, s.vin_check_digit_ok, s.vin_short_or_legacy, s.make, s.model_group,
                 s.model_detail, s.trim, s.vehicle_type, s.vehicle_type_code, s.body_style, s.body_style_code,
                 s.color, s.color_code, s.engine, s.drive, s.drive_code, s.transmission, s.transmission_code,
                 s.fuel, s.fuel_code, s.cylinders,
                 s.record_hash AS row_hash
          FROM staging.lots s) s
    LEFT JOIN lots t ON t.lot_number = s.lot_number
) c
WHERE refusal IS NOT NULL
   OR is_new
   OR (newer AND (differs OR moved))
   OR (NOT newer AND differs)
   OR old_first_seen > %(window_at)s
   OR old_status <> 'ACTIVE';

-- name: plan_skipped_late
-- Lots the ingest skipped as unchanged (never staged) but first seen later than this window's instant (a
-- file that arrived late): as staged rows they would have been planned 'none' with fix_first_seen, so they
-- are planned so here (%(late_lots)s: the skipped lots whose first_seen_at the ingest saw after
-- window_at). A lot whose staged copy won over the skipped one (listed twice) was planned by plan_keys.
INSERT INTO staging.lot_keys (lot_number, action, refusal, stale, fix_first_seen, old_status, old_vin, row_hash,
                              source_updated_at, vin)
SELECT t.lot_number, 'none', NULL, false, true, t.status, t.vin, t.row_hash, t.source_updated_at, t.vin
FROM lots t
WHERE t.lot_number = ANY(%(late_lots)s::bigint[])
  AND t.status = 'ACTIVE' AND t.first_seen_at > %(window_at)s
  AND NOT EXISTS (SELECT 1 FROM staging.lots s WHERE s.lot_number = t.lot_number);

-- name: confirm_changes
-- A different record hash does not prove different values: the same values may come from another record
-- (columns in another order, other whitespace, a reseeded taxonomy changes the seed of every hash). The
-- candidates ('update', and the older rows counted as stale) are compared column by column; equal values
-- are no update: 'touch' if the Last Updated Time moved (it moves the key and stores the new hash, as
-- before), else 'rehash' (touch_lots stores only the new hash, so the next window can skip the row), and
-- an older row with equal values is not stale. Run only when plan_counts found candidates; it joins the
-- staged rows of those few lots.
UPDATE staging.lot_keys k
SET action = CASE WHEN k.action <> 'update' THEN k.action
                  WHEN k.source_updated_at IS DISTINCT FROM t.source_updated_at THEN 'touch'
                  ELSE 'rehash' END,
    stale = false
FROM staging.lots s
JOIN lots t ON t.lot_number = s.lot_number
WHERE s.lot_number = k.lot_number
  AND (k.action = 'update' OR k.stale)
  AND (
        t.vin, t.yard_number, t.yard_name, t.sale_date, t.sale_day_of_week, t.sale_time_hhmm,
        t.time_zone_abbr, t.sale_tz, t.auction_at, t.item_number, t.vehicle_type, t.vehicle_type_code,
        t.year, t.make, t.model_group, t.model_detail, t.trim, t.body_style, t.body_style_code, t.color,
        t.color_code, t.damage_primary, t.damage_primary_code, t.damage_secondary, t.damage_secondary_code,
        t.title_state, t.title_type, t.title_type_code, t.has_keys, t.has_keys_code, t.lot_cond,
        t.lot_cond_code, t.odometer, t.odometer_brand, t.odometer_brand_code, t.retail_value_cents,
        t.repair_cost_cents, t.engine, t.drive, t.drive_code, t.transmission, t.transmission_code, t.fuel,
        t.fuel_code, t.cylinders, t.runs_drives, t.runs_drives_code, t.sale_status, t.sale_status_code,
        t.high_bid_cents, t.buy_it_now_cents, t.currency_code, t.make_offer_eligible, t.rentals, t.wholesale,
        t.sale_light, t.sale_light_code, t.autograde, t.announcements, t.announcement_codes, t.special_note,
        t.grid_row, t.seller_name, t.location_city, t.location_state, t.location_zip, t.location_country,
        t.offsite_address1, t.offsite_state, t.offsite_city, t.offsite_zip, t.image_thumbnail, t.image_url)
      IS NOT DISTINCT FROM
      (
        s.vin, s.yard_number, s.yard_name, s.sale_date, s.sale_day_of_week, s.sale_time_hhmm,
        s.time_zone_abbr, s.sale_tz, s.auction_at, s.item_number, s.vehicle_type, s.vehicle_type_code,
        s.year, s.make, s.model_group, s.model_detail, s.trim, s.body_style, s.body_style_code, s.color,
        s.color_code, s.damage_primary, s.damage_primary_code, s.damage_secondary, s.damage_secondary_code,
        s.title_state, s.title_type, s.title_type_code, s.has_keys, s.has_keys_code, s.lot_cond,
        s.lot_cond_code, s.odometer, s.odometer_brand, s.odometer_brand_code, s.retail_value_cents,
        s.repair_cost_cents, s.engine, s.drive, s.drive_code, s.transmission, s.transmission_code, s.fuel,
        s.fuel_code, s.cylinders, s.runs_drives, s.runs_drives_code, s.sale_status, s.sale_status_code,
        s.high_bid_cents, s.buy_it_now_cents, s.currency_code, s.make_offer_eligible, s.rentals, s.wholesale,
        s.sale_light, s.sale_light_code, s.autograde, s.announcements, s.announcement_codes, s.special_note,
        s.grid_row, s.seller_name, s.location_city, s.location_state, s.location_zip, s.location_country,
        s.offsite_address1, s.offsite_state, s.offsite_city, s.offsite_zip, s.image_thumbnail, s.image_url);

-- name: plan_counts
SELECT count(*) FILTER (WHERE action = 'insert'),
       count(*) FILTER (WHERE action = 'update'),
       count(*) FILTER (WHERE action IN ('touch', 'rehash') OR (action = 'none' AND fix_first_seen)),
       count(*) FILTER (WHERE stale),
       count(*) FILTER (WHERE action = 'refused'),
       count(*) FILTER (WHERE action = 'insert' OR fix_first_seen
                        OR (action = 'update' AND vin IS DISTINCT FROM old_vin))
FROM staging.lot_keys;

-- name: plan_rows
-- The full rows of the lots to update and of the refused rows (everything after reads them from the plan).
INSERT INTO staging.lot_plan
SELECT k.action, k.refusal, k.stale, k.fix_first_seen, k.old_status, k.old_vin, k.row_hash, s.*
FROM staging.lot_keys k
JOIN staging.lots s ON s.lot_number = k.lot_number
WHERE k.action IN ('update', 'refused');

-- name: quarantine_refused
INSERT INTO raw.quarantine (load_id, row_no, reason, detail, data, lot_number)
SELECT %(load_id)s, p.source_row, 'constraint', p.refusal,
       to_jsonb(p) - 'action' - 'refusal' - 'stale' - 'fix_first_seen' - 'old_status' - 'old_vin' - 'load_id',
       p.lot_number
FROM staging.lot_plan p
WHERE p.action = 'refused';

-- name: plan_vehicles
-- Vehicles change only through a lot row that changed in this window; per VIN the row with the latest
-- Last Updated Time (then the highest lot number) speaks for it, and only if it is newer than the vehicle.
-- It reads the vehicle columns plan_keys kept (no second pass over staging.lots), and keeps the values to
-- write, so the vehicle statements read only the plan.
-- On the way it notes, for link_relists, the VINs of new lots that may have more than one lot: listed by
-- several lots of this window, or known before it (a lot with a VIN has a vehicle: a VIN whose vehicle is
-- new had no lot). That costs one aggregate over the sort the DISTINCT ON does anyway.
INSERT INTO staging.vehicle_plan (vin, lot_number, action, relist_check, source_updated_at,
        vin_valid_iso, vin_check_digit_ok, vin_short_or_legacy, vin_model_year, year, make, model_group,
        model_detail, trim, vehicle_type, vehicle_type_code, body_style, body_style_code, color, color_code,
        engine, drive, drive_code, transmission, transmission_code, fuel, fuel_code, cylinders)
SELECT vin, lot_number,
       CASE WHEN is_new THEN 'insert'
            WHEN NOT (newer AND (differs OR moved)) THEN 'none'
            WHEN differs THEN 'update'
            ELSE 'touch' END,
       has_new_lot AND (NOT is_new OR listed > 1),
       source_updated_at,
        vin_valid_iso, vin_check_digit_ok, vin_short_or_legacy, vin_model_year, year, make, model_group,
        model_detail, trim, vehicle_type, vehicle_type_code, body_style, body_style_code, color, color_code,
        engine, drive, drive_code, transmission, transmission_code, fuel, fuel_code, cylinders
FROM (
    SELECT v.*,
           t.vin IS NULL AS is_new,
           (coalesce(v.source_updated_at, '-infinity'), %(window_at)s::timestamptz)
               > (coalesce(t.source_updated_at, '-infinity'), t.source_window_at) AS newer,
           (
        t.vin_valid_iso, t.vin_check_digit_ok, t.vin_short_or_legacy, t.vin_model_year, t.year, t.make,
        t.model_group, t.model_detail, t.trim, t.vehicle_type, t.vehicle_type_code, t.body_style,
        t.body_style_code, t.color, t.color_code, t.engine, t.drive, t.drive_code, t.transmission,
        t.transmission_code, t.fuel, t.fuel_code, t.cylinders)
           IS DISTINCT FROM
           (
        v.vin_valid_iso, v.vin_check_digit_ok, v.vin_short_or_legacy, v.vin_model_year, v.year, v.make,
        v.model_group, v.model_detail, v.trim, v.vehicle_type, v.vehicle_type_code, v.body_style,
        v.body_style_code, v.color, v.color_code, v.engine, v.drive, v.drive_code, v.transmission,
        v.transmission_code, v.fuel, v.fuel_code, v.cylinders) AS differs,
           v.source_updated_at IS DISTINCT FROM t.source_updated_at OR v.lot_number <> t.source_lot_number AS moved
    FROM (SELECT DISTINCT ON (s.vin COLLATE "C") s.vin, s.lot_number, s.source_updated_at,
                 s.vin_valid_iso, s.vin_check_digit_ok, s.vin_short_or_legacy, s.vin_model_year, s.year, s.make,
                 s.model_group, s.model_detail, s.trim, s.vehicle_type, s.vehicle_type_code, s.body_style,
                 s.body_style_code, s.color, s.color_code, s.engine, s.drive, s.drive_code, s.transmission,
                 s.transmission_code, s.fuel, s.fuel_code, s.cylinders,
                 count(*) OVER w AS listed,
                 bool_or(s.action = 'insert') OVER w AS has_new_lot
          FROM staging.lot_keys s
          WHERE s.action IN ('insert', 'update', 'touch') AND s.vin IS NOT NULL
          -- The window sorts in the DISTINCT ON order (its frame still spans the whole VIN): one sort.
          WINDOW w AS (PARTITION BY s.vin COLLATE "C"
                       ORDER BY coalesce(s.source_updated_at, '-infinity') DESC, s.lot_number DESC
                       ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
          ORDER BY s.vin COLLATE "C", coalesce(s.source_updated_at, '-infinity') DESC, s.lot_number DESC) v
    LEFT JOIN vehicles t ON t.vin = v.vin
) c
WHERE is_new OR (newer AND (differs OR moved)) OR has_new_lot;

-- name: vehicle_counts
SELECT count(*) FILTER (WHERE action = 'insert'),
       count(*) FILTER (WHERE action = 'update'),
       count(*) FILTER (WHERE action IN ('update', 'touch'))
FROM staging.vehicle_plan;

-- name: insert_vehicles
-- No ORDER BY: plan_vehicles wrote the plan in VIN byte order (its DISTINCT ON sort; for VINs, upper-case
-- letters and digits, also the order of the usual collations), so the primary key fills in order without
-- sorting the rows a second time.
INSERT INTO vehicles (vin,
        vin_valid_iso, vin_check_digit_ok, vin_short_or_legacy, vin_model_year, year, make, model_group,
        model_detail, trim, vehicle_type, vehicle_type_code, body_style, body_style_code, color, color_code,
        engine, drive, drive_code, transmission, transmission_code, fuel, fuel_code, cylinders,
        source_lot_number, source_updated_at, source_window_at, load_id)
SELECT p.vin,
        p.vin_valid_iso, p.vin_check_digit_ok, p.vin_short_or_legacy, p.vin_model_year, p.year, p.make,
        p.model_group, p.model_detail, p.trim, p.vehicle_type, p.vehicle_type_code, p.body_style,
        p.body_style_code, p.color, p.color_code, p.engine, p.drive, p.drive_code, p.transmission,
        p.transmission_code, p.fuel, p.fuel_code, p.cylinders,
       p.lot_number, p.source_updated_at, %(window_at)s, %(load_id)s
FROM staging.vehicle_plan p
WHERE p.action = 'insert';

-- name: update_vehicles
UPDATE vehicles t
SET (
        vin_valid_iso, vin_check_digit_ok, vin_short_or_legacy, vin_model_year, year, make, model_group,
        model_detail, trim, vehicle_type, vehicle_type_code, body_style, body_style_code, color, color_code,
        engine, drive, drive_code, transmission, transmission_code, fuel, fuel_code, cylinders)
  = (
        p.vin_valid_iso, p.vin_check_digit_ok, p.vin_short_or_legacy, p.vin_model_year, p.year, p.make,
        p.model_group, p.model_detail, p.trim, p.vehicle_type, p.vehicle_type_code, p.body_style,
        p.body_style_code, p.color, p.color_code, p.engine, p.drive, p.drive_code, p.transmission,
        p.transmission_code, p.fuel, p.fuel_code, p.cylinders),
    source_lot_number = p.lot_number,
    source_updated_at = p.source_updated_at,
    source_window_at = %(window_at)s,
    load_id = CASE WHEN p.action = 'update' THEN %(load_id)s ELSE t.load_id END,
    updated_at = now()
FROM staging.vehicle_plan p
WHERE t.vin = p.vin AND p.action IN ('update', 'touch');

-- name: lot_change_events
-- One event per changed lot with only the columns that changed, their old and new values (and the Last
-- Updated Time that came with the change). confirm_changes already turned the updates of equal values into
-- touches or rehashes, so every 'update' left is a real change and its row count is the number of lots
-- changed.
INSERT INTO lot_events (lot_number, load_id, at, kind, old, new)
SELECT p.lot_number, %(load_id)s, %(window_at)s, 'changed',
       CASE WHEN p.source_updated_at IS DISTINCT FROM t.source_updated_at THEN jsonb_build_object('source_updated_at', t.source_updated_at) ELSE '{}' END
    || CASE WHEN p.vin IS DISTINCT FROM t.vin THEN jsonb_build_object('vin', t.vin) ELSE '{}' END
    || CASE WHEN p.yard_number IS DISTINCT FROM t.yard_number THEN jsonb_build_object('yard_number', t.yard_number) ELSE '{}' END
    || CASE WHEN p.yard_name IS DISTINCT FROM t.yard_name THEN jsonb_build_object('yard_name', t.yard_name) ELSE '{}' END
    || CASE WHEN p.sale_date IS DISTINCT FROM t.sale_date THEN jsonb_build_object('sale_date', t.sale_date) ELSE '{}' END
    || CASE WHEN p.sale_day_of_week IS DISTINCT FROM t.sale_day_of_week THEN jsonb_build_object('sale_day_of_week', t.sale_day_of_week) ELSE '{}' END
    || CASE WHEN p.sale_time_hhmm IS DISTINCT FROM t.sale_time_hhmm THEN jsonb_build_object('sale_time_hhmm', t.sale_time_hhmm) ELSE '{}' END
    || CASE WHEN p.time_zone_abbr IS DISTINCT FROM t.time_zone_abbr THEN jsonb_build_object('time_zone_abbr', t.time_zone_abbr) ELSE '{}' END
    || CASE WHEN p.sale_tz IS DISTINCT FROM t.sale_tz THEN jsonb_build_object('sale_tz', t.sale_tz) ELSE '{}' END
    || CASE WHEN p.auction_at IS DISTINCT FROM t.auction_at THEN jsonb_build_object('auction_at', t.auction_at) ELSE '{}' END
    || CASE WHEN p.item_number IS DISTINCT FROM t.item_number THEN jsonb_build_object('item_number', t.item_number) ELSE '{}' END
    || CASE WHEN p.vehicle_type IS DISTINCT FROM t.vehicle_type THEN jsonb_build_object('vehicle_type', t.vehicle_type) ELSE '{}' END
    || CASE WHEN p.vehicle_type_code IS DISTINCT FROM t.vehicle_type_code THEN jsonb_build_object('vehicle_type_code', t.vehicle_type_code) ELSE '{}' END
    || CASE WHEN p.year IS DISTINCT FROM t.year THEN jsonb_build_object('year', t.year) ELSE '{}' END
    || CASE WHEN p.make IS DISTINCT FROM t.make THEN jsonb_build_object('make', t.make) ELSE '{}' END
    || CASE WHEN p.model_group IS DISTINCT FROM t.model_group THEN jsonb_build_object('model_group', t.model_group) ELSE '{}' END
    || CASE WHEN p.model_detail IS DISTINCT FROM t.model_detail THEN jsonb_build_object('model_detail', t.model_detail) ELSE '{}' END
    || CASE WHEN p.trim IS DISTINCT FROM t.trim THEN jsonb_build_object('trim', t.trim) ELSE '{}' END
    || CASE WHEN p.body_style IS DISTINCT FROM t.body_style THEN jsonb_build_object('body_style', t.body_style) ELSE '{}' END
    || CASE WHEN p.body_style_code IS DISTINCT FROM t.body_style_code THEN jsonb_build_object('body_style_code', t.body_style_code) ELSE '{}' END
    || CASE WHEN p.color IS DISTINCT FROM t.color THEN jsonb_build_object('color', t.color) ELSE '{}' END
    || CASE WHEN p.color_code IS DISTINCT FROM t.color_code THEN jsonb_build_object('color_code', t.color_code) ELSE '{}' END
    || CASE WHEN p.damage_primary IS DISTINCT FROM t.damage_primary THEN jsonb_build_object('damage_primary', t.damage_primary) ELSE '{}' END
    || CASE WHEN p.damage_primary_code IS DISTINCT FROM t.damage_primary_code THEN jsonb_build_object('damage_primary_code', t.damage_primary_code) ELSE '{}' END
    || CASE WHEN p.damage_secondary IS DISTINCT FROM t.damage_secondary THEN jsonb_build_object('damage_secondary', t.damage_secondary) ELSE '{}' END
    || CASE WHEN p.damage_secondary_code IS DISTINCT FROM t.damage_secondary_code THEN jsonb_build_object('damage_secondary_code', t.damage_secondary_code) ELSE '{}' END
    || CASE WHEN p.title_state IS DISTINCT FROM t.title_state THEN jsonb_build_object('title_state', t.title_state) ELSE '{}' END
    || CASE WHEN p.title_type IS DISTINCT FROM t.title_type THEN jsonb_build_object('title_type', t.title_type) ELSE '{}' END
    || CASE WHEN p.title_type_code IS DISTINCT FROM t.title_type_code THEN jsonb_build_object('title_type_code', t.title_type_code) ELSE '{}' END
    || CASE WHEN p.has_keys IS DISTINCT FROM t.has_keys THEN jsonb_build_object('has_keys', t.has_keys) ELSE '{}' END
    || CASE WHEN p.has_keys_code IS DISTINCT FROM t.has_keys_code THEN jsonb_build_object('has_keys_code', t.has_keys_code) ELSE '{}' END
    || CASE WHEN p.lot_cond IS DISTINCT FROM t.lot_cond THEN jsonb_build_object('lot_cond', t.lot_cond) ELSE '{}' END
    || CASE WHEN p.lot_cond_code IS DISTINCT FROM t.lot_cond_code THEN jsonb_build_object('lot_cond_code', t.lot_cond_code) ELSE '{}' END
    || CASE WHEN p.odometer IS DISTINCT FROM t.odometer THEN jsonb_build_object('odometer', t.odometer) ELSE '{}' END
    || CASE WHEN p.odometer_brand IS DISTINCT FROM t.odometer_brand THEN jsonb_build_object('odometer_brand', t.odometer_brand) ELSE '{}' END
    || CASE WHEN p.odometer_brand_code IS DISTINCT FROM t.odometer_brand_code THEN jsonb_build_object('odometer_brand_code', t.odometer_brand_code) ELSE '{}' END
    || CASE WHEN p.retail_value_cents IS DISTINCT FROM t.retail_value_cents THEN jsonb_build_object('retail_value_cents', t.retail_value_cents) ELSE '{}' END
    || CASE WHEN p.repair_cost_cents IS DISTINCT FROM t.repair_cost_cents THEN jsonb_build_object('repair_cost_cents', t.repair_cost_cents) ELSE '{}' END
    || CASE WHEN p.engine IS DISTINCT FROM t.engine THEN jsonb_build_object('engine', t.engine) ELSE '{}' END
    || CASE WHEN p.drive IS DISTINCT FROM t.drive THEN jsonb_build_object('drive', t.drive) ELSE '{}' END
    || CASE WHEN p.drive_code IS DISTINCT FROM t.drive_code THEN jsonb_build_object('drive_code', t.drive_code) ELSE '{}' END
    || CASE WHEN p.transmission IS DISTINCT FROM t.transmission THEN jsonb_build_object('transmission', t.transmission) ELSE '{}' END
    || CASE WHEN p.transmission_code IS DISTINCT FROM t.transmission_code THEN jsonb_build_object('transmission_code', t.transmission_code) ELSE '{}' END
    || CASE WHEN p.fuel IS DISTINCT FROM t.fuel THEN jsonb_build_object('fuel', t.fuel) ELSE '{}' END
    || CASE WHEN p.fuel_code IS DISTINCT FROM t.fuel_code THEN jsonb_build_object('fuel_code', t.fuel_code) ELSE '{}' END
    || CASE WHEN p.cylinders IS DISTINCT FROM t.cylinders THEN jsonb_build_object('cylinders', t.cylinders) ELSE '{}' END
    || CASE WHEN p.runs_drives IS DISTINCT FROM t.runs_drives THEN jsonb_build_object('runs_drives', t.runs_drives) ELSE '{}' END
    || CASE WHEN p.runs_drives_code IS DISTINCT FROM t.runs_drives_code THEN jsonb_build_object('runs_drives_code', t.runs_drives_code) ELSE '{}' END
    || CASE WHEN p.sale_status IS DISTINCT FROM t.sale_status THEN jsonb_build_object('sale_status', t.sale_status) ELSE '{}' END
    || CASE WHEN p.sale_status_code IS DISTINCT FROM t.sale_status_code THEN jsonb_build_object('sale_status_code', t.sale_status_code) ELSE '{}' END
    || CASE WHEN p.high_bid_cents IS DISTINCT FROM t.high_bid_cents THEN jsonb_build_object('high_bid_cents', t.high_bid_cents) ELSE '{}' END
    || CASE WHEN p.buy_it_now_cents IS DISTINCT FROM t.buy_it_now_cents THEN jsonb_build_object('buy_it_now_cents', t.buy_it_now_cents) ELSE '{}' END
    || CASE WHEN p.currency_code IS DISTINCT FROM t.currency_code THEN jsonb_build_object('currency_code', t.currency_code) ELSE '{}' END
    || CASE WHEN p.make_offer_eligible IS DISTINCT FROM t.make_offer_eligible THEN jsonb_build_object('make_offer_eligible', t.make_offer_eligible) ELSE '{}' END
    || CASE WHEN p.rentals IS DISTINCT FROM t.rentals THEN jsonb_build_object('rentals', t.rentals) ELSE '{}' END
    || CASE WHEN p.wholesale IS DISTINCT FROM t.wholesale THEN jsonb_build_object('wholesale', t.wholesale) ELSE '{}' END
    || CASE WHEN p.sale_light IS DISTINCT FROM t.sale_light THEN jsonb_build_object('sale_light', t.sale_light) ELSE '{}' END
    || CASE WHEN p.sale_light_code IS DISTINCT FROM t.sale_light_code THEN jsonb_build_object('sale_light_code', t.sale_light_code) ELSE '{}' END
    || CASE WHEN p.autograde IS DISTINCT FROM t.autograde THEN jsonb_build_object('autograde', t.autograde) ELSE '{}' END
    || CASE WHEN p.announcements IS DISTINCT FROM t.announcements THEN jsonb_build_object('announcements', t.announcements) ELSE '{}' END
    || CASE WHEN p.announcement_codes IS DISTINCT FROM t.announcement_codes THEN jsonb_build_object('announcement_codes', t.announcement_codes) ELSE '{}' END
    || CASE WHEN p.special_note IS DISTINCT FROM t.special_note THEN jsonb_build_object('special_note', t.special_note) ELSE '{}' END
    || CASE WHEN p.grid_row IS DISTINCT FROM t.grid_row THEN jsonb_build_object('grid_row', t.grid_row) ELSE '{}' END
    || CASE WHEN p.seller_name IS DISTINCT FROM t.seller_name THEN jsonb_build_object('seller_name', t.seller_name) ELSE '{}' END
    || CASE WHEN p.location_city IS DISTINCT FROM t.location_city THEN jsonb_build_object('location_city', t.location_city) ELSE '{}' END
    || CASE WHEN p.location_state IS DISTINCT FROM t.location_state THEN jsonb_build_object('location_state', t.location_state) ELSE '{}' END
    || CASE WHEN p.location_zip IS DISTINCT FROM t.location_zip THEN jsonb_build_object('location_zip', t.location_zip) ELSE '{}' END
    || CASE WHEN p.location_country IS DISTINCT FROM t.location_country THEN jsonb_build_object('location_country', t.location_country) ELSE '{}' END
    || CASE WHEN p.offsite_address1 IS DISTINCT FROM t.offsite_address1 THEN jsonb_build_object('offsite_address1', t.offsite_address1) ELSE '{}' END
    || CASE WHEN p.offsite_state IS DISTINCT FROM t.offsite_state THEN jsonb_build_object('offsite_state', t.offsite_state) ELSE '{}' END
    || CASE WHEN p.offsite_city IS DISTINCT FROM t.offsite_city THEN jsonb_build_object('offsite_city', t.offsite_city) ELSE '{}' END
    || CASE WHEN p.offsite_zip IS DISTINCT FROM t.offsite_zip THEN jsonb_build_object('offsite_zip', t.offsite_zip) ELSE '{}' END
    || CASE WHEN p.image_thumbnail IS DISTINCT FROM t.image_thumbnail THEN jsonb_build_object('image_thumbnail', t.image_thumbnail) ELSE '{}' END
    || CASE WHEN p.image_url IS DISTINCT FROM t.image_url THEN jsonb_build_object('image_url', t.image_url) ELSE '{}' END,
       CASE WHEN p.source_updated_at IS DISTINCT FROM t.source_updated_at THEN jsonb_build_object('source_updated_at', p.source_updated_at) ELSE '{}' END
    || CASE WHEN p.vin IS DISTINCT FROM t.vin THEN jsonb_build_object('vin', p.vin) ELSE '{}' END
    || CASE WHEN p.yard_number IS DISTINCT FROM t.yard_number THEN jsonb_build_object('yard_number', p.yard_number) ELSE '{}' END
    || CASE WHEN p.yard_name IS DISTINCT FROM t.yard_name THEN jsonb_build_object('yard_name', p.yard_name) ELSE '{}' END
    || CASE WHEN p.sale_date IS DISTINCT FROM t.sale_date THEN jsonb_build_object('sale_date', p.sale_date) ELSE '{}' END
    || CASE WHEN p.sale_day_of_week IS DISTINCT FROM t.sale_day_of_week THEN jsonb_build_object('sale_day_of_week', p.sale_day_of_week) ELSE '{}' END
    || CASE WHEN p.sale_time_hhmm IS DISTINCT FROM t.sale_time_hhmm THEN jsonb_build_object('sale_time_hhmm', p.sale_time_hhmm) ELSE '{}' END
    || CASE WHEN p.time_zone_abbr IS DISTINCT FROM t.time_zone_abbr THEN jsonb_build_object('time_zone_abbr', p.time_zone_abbr) ELSE '{}' END
    || CASE WHEN p.sale_tz IS DISTINCT FROM t.sale_tz THEN jsonb_build_object('sale_tz', p.sale_tz) ELSE '{}' END
    || CASE WHEN p.auction_at IS DISTINCT FROM t.auction_at THEN jsonb_build_object('auction_at', p.auction_at) ELSE '{}' END
    || CASE WHEN p.item_number IS DISTINCT FROM t.item_number THEN jsonb_build_object('item_number', p.item_number) ELSE '{}' END
    || CASE WHEN p.vehicle_type IS DISTINCT FROM t.vehicle_type THEN jsonb_build_object('vehicle_type', p.vehicle_type) ELSE '{}' END
    || CASE WHEN p.vehicle_type_code IS DISTINCT FROM t.vehicle_type_code THEN jsonb_build_object('vehicle_type_code', p.vehicle_type_code) ELSE '{}' END
    || CASE WHEN p.year IS DISTINCT FROM t.year THEN jsonb_build_object('year', p.year) ELSE '{}' END
    || CASE WHEN p.make IS DISTINCT FROM t.make THEN jsonb_build_object('make', p.make) ELSE '{}' END
    || CASE WHEN p.model_group IS DISTINCT FROM t.model_group THEN jsonb_build_object('model_group', p.model_group) ELSE '{}' END
    || CASE WHEN p.model_detail IS DISTINCT FROM t.model_detail THEN jsonb_build_object('model_detail', p.model_detail) ELSE '{}' END
    || CASE WHEN p.trim IS DISTINCT FROM t.trim THEN jsonb_build_object('trim', p.trim) ELSE '{}' END
    || CASE WHEN p.body_style IS DISTINCT FROM t.body_style THEN jsonb_build_object('body_style', p.body_style) ELSE '{}' END
    || CASE WHEN p.body_style_code IS DISTINCT FROM t.body_style_code THEN jsonb_build_object('body_style_code', p.body_style_code) ELSE '{}' END
    || CASE WHEN p.color IS DISTINCT FROM t.color THEN jsonb_build_object('color', p.color) ELSE '{}' END
    || CASE WHEN p.color_code IS DISTINCT FROM t.color_code THEN jsonb_build_object('color_code', p.color_code) ELSE '{}' END
    || CASE WHEN p.damage_primary IS DISTINCT FROM t.damage_primary THEN jsonb_build_object('damage_primary', p.damage_primary) ELSE '{}' END
    || CASE WHEN p.damage_primary_code IS DISTINCT FROM t.damage_primary_code THEN jsonb_build_object('damage_primary_code', p.damage_primary_code) ELSE '{}' END
    || CASE WHEN p.damage_secondary IS DISTINCT FROM t.damage_secondary THEN jsonb_build_object('damage_secondary', p.damage_secondary) ELSE '{}' END
    || CASE WHEN p.damage_secondary_code IS DISTINCT FROM t.damage_secondary_code THEN jsonb_build_object('damage_secondary_code', p.damage_secondary_code) ELSE '{}' END
    || CASE WHEN p.title_state IS DISTINCT FROM t.title_state THEN jsonb_build_object('title_state', p.title_state) ELSE '{}' END
    || CASE WHEN p.title_type IS DISTINCT FROM t.title_type THEN jsonb_build_object('title_type', p.title_type) ELSE '{}' END
    || CASE WHEN p.title_type_code IS DISTINCT FROM t.title_type_code THEN jsonb_build_object('title_type_code', p.title_type_code) ELSE '{}' END
    || CASE WHEN p.has_keys IS DISTINCT FROM t.has_keys THEN jsonb_build_object('has_keys', p.has_keys) ELSE '{}' END
    || CASE WHEN p.has_keys_code IS DISTINCT FROM t.has_keys_code THEN jsonb_build_object('has_keys_code', p.has_keys_code) ELSE '{}' END
    || CASE WHEN p.lot_cond IS DISTINCT FROM t.lot_cond THEN jsonb_build_object('lot_cond', p.lot_cond) ELSE '{}' END
    || CASE WHEN p.lot_cond_code IS DISTINCT FROM t.lot_cond_code THEN jsonb_build_object('lot_cond_code', p.lot_cond_code) ELSE '{}' END
    || CASE WHEN p.odometer IS DISTINCT FROM t.odometer THEN jsonb_build_object('odometer', p.odometer) ELSE '{}' END
    || CASE WHEN p.odometer_brand IS DISTINCT FROM t.odometer_brand THEN jsonb_build_object('odometer_brand', p.odometer_brand) ELSE '{}' END
    || CASE WHEN p.odometer_brand_code IS DISTINCT FROM t.odometer_brand_code THEN jsonb_build_object('odometer_brand_code', p.odometer_brand_code) ELSE '{}' END
    || CASE WHEN p.retail_value_cents IS DISTINCT FROM t.retail_value_cents THEN jsonb_build_object('retail_value_cents', p.retail_value_cents) ELSE '{}' END
    || CASE WHEN p.repair_cost_cents IS DISTINCT FROM t.repair_cost_cents THEN jsonb_build_object('repair_cost_cents', p.repair_cost_cents) ELSE '{}' END
    || CASE WHEN p.engine IS DISTINCT FROM t.engine THEN jsonb_build_object('engine', p.engine) ELSE '{}' END
    || CASE WHEN p.drive IS DISTINCT FROM t.drive THEN jsonb_build_object('drive', p.drive) ELSE '{}' END
    || CASE WHEN p.drive_code IS DISTINCT FROM t.drive_code THEN jsonb_build_object('drive_code', p.drive_code) ELSE '{}' END
    || CASE WHEN p.transmission IS DISTINCT FROM t.transmission THEN jsonb_build_object('transmission', p.transmission) ELSE '{}' END
    || CASE WHEN p.transmission_code IS DISTINCT FROM t.transmission_code THEN jsonb_build_object('transmission_code', p.transmission_code) ELSE '{}' END
    || CASE WHEN p.fuel IS DISTINCT FROM t.fuel THEN jsonb_build_object('fuel', p.fuel) ELSE '{}' END
    || CASE WHEN p.fuel_code IS DISTINCT FROM t.fuel_code THEN jsonb_build_object('fuel_code', p.fuel_code) ELSE '{}' END
    || CASE WHEN p.cylinders IS DISTINCT FROM t.cylinders THEN jsonb_build_object('cylinders', p.cylinders) ELSE '{}' END
    || CASE WHEN p.runs_drives IS DISTINCT FROM t.runs_drives THEN jsonb_build_object('runs_drives', p.runs_drives) ELSE '{}' END
    || CASE WHEN p.runs_drives_code IS DISTINCT FROM t.runs_drives_code THEN jsonb_build_object('runs_drives_code', p.runs_drives_code) ELSE '{}' END
    || CASE WHEN p.sale_status IS DISTINCT FROM t.sale_status THEN jsonb_build_object('sale_status', p.sale_status) ELSE '{}' END
    || CASE WHEN p.sale_status_code IS DISTINCT FROM t.sale_status_code THEN jsonb_build_object('sale_status_code', p.sale_status_code) ELSE '{}' END
    || CASE WHEN p.high_bid_cents IS DISTINCT FROM t.high_bid_cents THEN jsonb_build_object('high_bid_cents', p.high_bid_cents) ELSE '{}' END
    || CASE WHEN p.buy_it_now_cents IS DISTINCT FROM t.buy_it_now_cents THEN jsonb_build_object('buy_it_now_cents', p.buy_it_now_cents) ELSE '{}' END
    || CASE WHEN p.currency_code IS DISTINCT FROM t.currency_code THEN jsonb_build_object('currency_code', p.currency_code) ELSE '{}' END
    || CASE WHEN p.make_offer_eligible IS DISTINCT FROM t.make_offer_eligible THEN jsonb_build_object('make_offer_eligible', p.make_offer_eligible) ELSE '{}' END
    || CASE WHEN p.rentals IS DISTINCT FROM t.rentals THEN jsonb_build_object('rentals', p.rentals) ELSE '{}' END
    || CASE WHEN p.wholesale IS DISTINCT FROM t.wholesale THEN jsonb_build_object('wholesale', p.wholesale) ELSE '{}' END
    || CASE WHEN p.sale_light IS DISTINCT FROM t.sale_light THEN jsonb_build_object('sale_light', p.sale_light) ELSE '{}' END
    || CASE WHEN p.sale_light_code IS DISTINCT FROM t.sale_light_code THEN jsonb_build_object('sale_light_code', p.sale_light_code) ELSE '{}' END
    || CASE WHEN p.autograde IS DISTINCT FROM t.autograde THEN jsonb_build_object('autograde', p.autograde) ELSE '{}' END
    || CASE WHEN p.announcements IS DISTINCT FROM t.announcements THEN jsonb_build_object('announcements', p.announcements) ELSE '{}' END
    || CASE WHEN p.announcement_codes IS DISTINCT FROM t.announcement_codes THEN jsonb_build_object('announcement_codes', p.announcement_codes) ELSE '{}' END
    || CASE WHEN p.special_note IS DISTINCT FROM t.special_note THEN jsonb_build_object('special_note', p.special_note) ELSE '{}' END
    || CASE WHEN p.grid_row IS DISTINCT FROM t.grid_row THEN jsonb_build_object('grid_row', p.grid_row) ELSE '{}' END
    || CASE WHEN p.seller_name IS DISTINCT FROM t.seller_name THEN jsonb_build_object('seller_name', p.seller_name) ELSE '{}' END
    || CASE WHEN p.location_city IS DISTINCT FROM t.location_city THEN jsonb_build_object('location_city', p.location_city) ELSE '{}' END
    || CASE WHEN p.location_state IS DISTINCT FROM t.location_state THEN jsonb_build_object('location_state', p.location_state) ELSE '{}' END
    || CASE WHEN p.location_zip IS DISTINCT FROM t.location_zip THEN jsonb_build_object('location_zip', p.location_zip) ELSE '{}' END
    || CASE WHEN p.location_country IS DISTINCT FROM t.location_country THEN jsonb_build_object('location_country', p.location_country) ELSE '{}' END
    || CASE WHEN p.offsite_address1 IS DISTINCT FROM t.offsite_address1 THEN jsonb_build_object('offsite_address1', p.offsite_address1) ELSE '{}' END
    || CASE WHEN p.offsite_state IS DISTINCT FROM t.offsite_state THEN jsonb_build_object('offsite_state', p.offsite_state) ELSE '{}' END
    || CASE WHEN p.offsite_city IS DISTINCT FROM t.offsite_city THEN jsonb_build_object('offsite_city', p.offsite_city) ELSE '{}' END
    || CASE WHEN p.offsite_zip IS DISTINCT FROM t.offsite_zip THEN jsonb_build_object('offsite_zip', p.offsite_zip) ELSE '{}' END
    || CASE WHEN p.image_thumbnail IS DISTINCT FROM t.image_thumbnail THEN jsonb_build_object('image_thumbnail', p.image_thumbnail) ELSE '{}' END
    || CASE WHEN p.image_url IS DISTINCT FROM t.image_url THEN jsonb_build_object('image_url', p.image_url) ELSE '{}' END
FROM staging.lot_plan p
JOIN lots t ON t.lot_number = p.lot_number
WHERE p.action = 'update';

-- name: update_lots
UPDATE lots t
SET (
        vin, yard_number, yard_name, sale_date, sale_day_of_week, sale_time_hhmm, time_zone_abbr, sale_tz,
        auction_at, item_number, vehicle_type, vehicle_type_code, year, make, model_group, model_detail,
        trim, body_style, body_style_code, color, color_code, damage_primary, damage_primary_code,
        damage_secondary, damage_secondary_code, title_state, title_type, title_type_code, has_keys,
        has_keys_code, lot_cond, lot_cond_code, odometer, odometer_brand, odometer_brand_code,
        retail_value_cents, repair_cost_cents, engine, drive, drive_code, transmission, transmission_code,
        fuel, fuel_code, cylinders, runs_drives, runs_drives_code, sale_status, sale_status_code,
        high_bid_cents, buy_it_now_cents, currency_code, make_offer_eligible, rentals, wholesale, sale_light,
        sale_light_code, autograde, announcements, announcement_codes, special_note, grid_row, seller_name,
        location_city, location_state, location_zip, location_country, offsite_address1, offsite_state,
        offsite_city, offsite_zip, image_thumbnail, image_url)
  = (
        p.vin, p.yard_number, p.yard_name, p.sale_date, p.sale_day_of_week, p.sale_time_hhmm,
        p.time_zone_abbr, p.sale_tz, p.auction_at, p.item_number, p.vehicle_type, p.vehicle_type_code,
        p.year, p.make, p.model_group, p.model_detail, p.trim, p.body_style, p.body_style_code, p.color,
        p.color_code, p.damage_primary, p.damage_primary_code, p.damage_secondary, p.damage_secondary_code,
        p.title_state, p.title_type, p.title_type_code, p.has_keys, p.has_keys_code, p.lot_cond,
        p.lot_cond_code, p.odometer, p.odometer_brand, p.odometer_brand_code, p.retail_value_cents,
        p.repair_cost_cents, p.engine, p.drive, p.drive_code, p.transmission, p.transmission_code, p.fuel,
        p.fuel_code, p.cylinders, p.runs_drives, p.runs_drives_code, p.sale_status, p.sale_status_code,
        p.high_bid_cents, p.buy_it_now_cents, p.currency_code, p.make_offer_eligible, p.rentals, p.wholesale,
        p.sale_light, p.sale_light_code, p.autograde, p.announcements, p.announcement_codes, p.special_note,
        p.grid_row, p.seller_name, p.location_city, p.location_state, p.location_zip, p.location_country,
        p.offsite_address1, p.offsite_state, p.offsite_city, p.offsite_zip, p.image_thumbnail, p.image_url),
    retail_value_usd = CASE WHEN p.currency_code = 'USD' THEN p.retail_value_cents / 100.0 END,
    row_hash = p.row_hash,
    source_updated_at = p.source_updated_at,
    source_window_at = %(window_at)s,
    first_seen_at = least(t.first_seen_at, %(window_at)s),
    load_id = %(load_id)s,
    updated_at = now()
FROM staging.lot_plan p
WHERE t.lot_number = p.lot_number AND p.action = 'update';

-- name: touch_lots
-- Same values but a newer Last Updated Time (the key moves forward), or first listed earlier than known
-- (a file that arrived late), or only a new record hash ('rehash', see confirm_changes): bookkeeping only,
-- no event.
UPDATE lots t
SET source_updated_at = CASE WHEN k.action = 'touch' THEN k.source_updated_at ELSE t.source_updated_at END,
    row_hash = CASE WHEN k.action IN ('touch', 'rehash') THEN k.row_hash ELSE t.row_hash END,
    source_window_at = CASE WHEN k.action = 'touch' THEN %(window_at)s ELSE t.source_window_at END,
    first_seen_at = least(t.first_seen_at, %(window_at)s),
    updated_at = now()
FROM staging.lot_keys k
WHERE t.lot_number = k.lot_number AND (k.action IN ('touch', 'rehash') OR (k.action = 'none' AND k.fix_first_seen));

-- name: insert_lots
-- New lots, straight from staging (no event: a lot's first listing is lots.first_seen_at).
INSERT INTO lots (lot_number,
        vin, yard_number, yard_name, sale_date, sale_day_of_week, sale_time_hhmm, time_zone_abbr, sale_tz,
        auction_at, item_number, vehicle_type, vehicle_type_code, year, make, model_group, model_detail,
        trim, body_style, body_style_code, color, color_code, damage_primary, damage_primary_code,
        damage_secondary, damage_secondary_code, title_state, title_type, title_type_code, has_keys,
        has_keys_code, lot_cond, lot_cond_code, odometer, odometer_brand, odometer_brand_code,
        retail_value_cents, repair_cost_cents, engine, drive, drive_code, transmission, transmission_code,
        fuel, fuel_code, cylinders, runs_drives, runs_drives_code, sale_status, sale_status_code,
        high_bid_cents, buy_it_now_cents, currency_code, make_offer_eligible, rentals, wholesale, sale_light,
        sale_light_code, autograde, announcements, announcement_codes, special_note, grid_row, seller_name,
        location_city, location_state, location_zip, location_country, offsite_address1, offsite_state,
        offsite_city, offsite_zip, image_thumbnail, image_url,
        row_hash, source_updated_at, source_window_at, first_seen_at, load_id, retail_value_usd)
SELECT p.lot_number,
        p.vin, p.yard_number, p.yard_name, p.sale_date, p.sale_day_of_week, p.sale_time_hhmm,
        p.time_zone_abbr, p.sale_tz, p.auction_at, p.item_number, p.vehicle_type, p.vehicle_type_code,
        p.year, p.make, p.model_group, p.model_detail, p.trim, p.body_style, p.body_style_code, p.color,
        p.color_code, p.damage_primary, p.damage_primary_code, p.damage_secondary, p.damage_secondary_code,
        p.title_state, p.title_type, p.title_type_code, p.has_keys, p.has_keys_code, p.lot_cond,
        p.lot_cond_code, p.odometer, p.odometer_brand, p.odometer_brand_code, p.retail_value_cents,
        p.repair_cost_cents, p.engine, p.drive, p.drive_code, p.transmission, p.transmission_code, p.fuel,
        p.fuel_code, p.cylinders, p.runs_drives, p.runs_drives_code, p.sale_status, p.sale_status_code,
        p.high_bid_cents, p.buy_it_now_cents, p.currency_code, p.make_offer_eligible, p.rentals, p.wholesale,
        p.sale_light, p.sale_light_code, p.autograde, p.announcements, p.announcement_codes, p.special_note,
        p.grid_row, p.seller_name, p.location_city, p.location_state, p.location_zip, p.location_country,
        p.offsite_address1, p.offsite_state, p.offsite_city, p.offsite_zip, p.image_thumbnail, p.image_url,
       k.row_hash, p.source_updated_at, %(window_at)s, %(window_at)s, %(load_id)s,
       CASE WHEN p.currency_code = 'USD' THEN p.retail_value_cents / 100.0 END
FROM staging.lot_keys k
JOIN staging.lots p ON p.lot_number = k.lot_number
WHERE k.action = 'insert';

-- name: link_relists
-- relisted_as = the next lot listing the same VIN (by first_seen_at, then lot number). Recomputed only for
-- VINs this window could have changed: the VINs of new lots that may have another lot (plan_vehicles marks
-- them), and the old and new VINs of lots first seen earlier than known and of lots whose VIN changed. The
-- candidates come from the plan tables, so a first load never counts the VINs of every lot.
WITH vins AS MATERIALIZED (
    SELECT vin FROM staging.vehicle_plan WHERE relist_check
    UNION
    SELECT v FROM staging.lot_keys k, unnest(ARRAY[k.vin, k.old_vin]) AS v
    WHERE (k.fix_first_seen OR (k.action = 'update' AND k.vin IS DISTINCT FROM k.old_vin)) AND v IS NOT NULL
)
UPDATE lots o
SET relisted_as = x.next_lot, updated_at = now()
FROM (
    SELECT l.lot_number,
           lead(l.lot_number) OVER (PARTITION BY l.vin ORDER BY l.first_seen_at, l.lot_number) AS next_lot
    FROM lots l
    WHERE l.vin IN (SELECT vin FROM vins)
    UNION ALL
    SELECT lot_number, NULL FROM staging.lot_keys WHERE action = 'update' AND vin IS NULL AND old_vin IS NOT NULL
) x
WHERE o.lot_number = x.lot_number AND o.relisted_as IS DISTINCT FROM x.next_lot;
