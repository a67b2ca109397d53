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
--
-- The data columns of a lot or a vehicle are not spelled here: the placeholders in braces (lot_columns,
-- lot_columns:p. for p.-prefixed names, vehicle_columns, lot_changes:t. for the columns that differ between
-- p and t with their values in t) are written out when the file is loaded, from the one list of each
-- (python/vinops/statements.py documents them; braces are not written in comments, they would be expanded
-- there too). tests/db/test_sql_contract.py holds the lists to the tables' columns and the statements to
-- the lists.

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
       {vehicle_columns}
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
           {vehicle_columns:s.}
    FROM (SELECT s.lot_number, s.source_updated_at, s.vin, s.sale_time_hhmm, s.odometer, s.retail_value_cents,
                 s.repair_cost_cents, s.high_bid_cents, s.buy_it_now_cents, s.auction_at, s.sale_date,
                 s.currency_code,
                 {vehicle_columns:s.},
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
  AND ({lot_columns:t.})
      IS NOT DISTINCT FROM
      ({lot_columns:s.});

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
                                  {vehicle_columns})
SELECT vin, lot_number,
       CASE WHEN is_new THEN 'insert'
            WHEN NOT (newer AND (differs OR moved)) THEN 'none'
            WHEN differs THEN 'update'
            ELSE 'touch' END,
       has_new_lot AND (NOT is_new OR listed > 1),
       source_updated_at,
       {vehicle_columns}
FROM (
    SELECT v.*,
           t.vin IS NULL AS is_new,
           (coalesce(v.source_updated_at, '-infinity'), %(window_at)s::timestamptz)
               > (coalesce(t.source_updated_at, '-infinity'), t.source_window_at) AS newer,
           ({vehicle_columns:t.})
           IS DISTINCT FROM
           ({vehicle_columns:v.}) AS differs,
           v.source_updated_at IS DISTINCT FROM t.source_updated_at OR v.lot_number <> t.source_lot_number AS moved
    FROM (SELECT DISTINCT ON (s.vin COLLATE "C") s.vin, s.lot_number, s.source_updated_at,
                 {vehicle_columns:s.},
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
                      {vehicle_columns},
                      source_lot_number, source_updated_at, source_window_at, load_id)
SELECT p.vin,
       {vehicle_columns:p.},
       p.lot_number, p.source_updated_at, %(window_at)s, %(load_id)s
FROM staging.vehicle_plan p
WHERE p.action = 'insert';

-- name: update_vehicles
UPDATE vehicles t
SET ({vehicle_columns})
  = ({vehicle_columns:p.}),
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
       CASE WHEN p.source_updated_at IS DISTINCT FROM t.source_updated_at
            THEN jsonb_build_object('source_updated_at', t.source_updated_at) ELSE '{}' END
    || {lot_changes:t.},
       CASE WHEN p.source_updated_at IS DISTINCT FROM t.source_updated_at
            THEN jsonb_build_object('source_updated_at', p.source_updated_at) ELSE '{}' END
    || {lot_changes:p.}
FROM staging.lot_plan p
JOIN lots t ON t.lot_number = p.lot_number
WHERE p.action = 'update';

-- name: update_lots
UPDATE lots t
SET ({lot_columns})
  = ({lot_columns:p.}),
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
                  {lot_columns},
                  row_hash, source_updated_at, source_window_at, first_seen_at, load_id, retail_value_usd)
SELECT p.lot_number,
       {lot_columns:p.},
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
