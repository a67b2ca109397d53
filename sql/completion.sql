-- Completion: lifecycle transitions of lots, run by vinops.completion in the window's transaction.
--
-- "Absent" always means absent from the newest completion-eligible window W* (staging.presence holds its
-- lot numbers), whatever order files arrive in. Parameters: %(load_id)s (the window running this),
-- %(as_of)s (W*'s window_at: the clock of the rules), %(grace)s (interval after the auction).
-- Every transition changes a row only if it is still in the old status, and writes one event: running the
-- rules again changes nothing.

-- name: baseline
-- The previous complete window: the newest completion-eligible window other than this one.
SELECT load_id, rows_in, window_at
FROM raw.csv_files
WHERE completion_eligible AND load_id <> %(load_id)s
ORDER BY window_at DESC, load_id DESC
LIMIT 1;

-- name: newest_eligible
SELECT load_id, window_at, rows_in
FROM raw.csv_files
WHERE completion_eligible
ORDER BY window_at DESC, load_id DESC
LIMIT 1;

-- name: clear_presence
TRUNCATE staging.presence;

-- name: fill_presence_quarantine
-- The window's lot numbers are copied in from the parsed batches (every row, duplicates and refused rows
-- included); this adds the lot numbers recovered from quarantined rows: a lot whose row failed to parse is
-- not "absent".
INSERT INTO staging.presence (lot_number)
SELECT DISTINCT lot_number FROM raw.quarantine WHERE load_id = %(load_id)s AND lot_number IS NOT NULL;

-- name: mark_presence
INSERT INTO staging.presence_window (load_id, window_at, lots)
SELECT %(load_id)s, %(as_of)s, (SELECT count(*) FROM staging.presence)
ON CONFLICT (singleton) DO UPDATE SET load_id = EXCLUDED.load_id, window_at = EXCLUDED.window_at, lots = EXCLUDED.lots;

-- name: presence_window
SELECT load_id, window_at, lots FROM staging.presence_window;

-- name: reappeared
-- A lot marked PENDING_RESULT or NOT_SOLD that is listed again (in W*, which is this window) is ACTIVE.
WITH changed AS (
    UPDATE lots t
    SET status = 'ACTIVE', status_reason = 'reappeared', status_changed_at = %(as_of)s, updated_at = now()
    FROM staging.lot_keys p
    WHERE p.lot_number = t.lot_number AND p.old_status IN ('PENDING_RESULT', 'NOT_SOLD')
      AND t.status IN ('PENDING_RESULT', 'NOT_SOLD')
    RETURNING t.lot_number, p.old_status
)
INSERT INTO lot_events (lot_number, load_id, at, kind, reason, old, new)
SELECT lot_number, %(load_id)s, %(as_of)s, 'status', 'reappeared',
       jsonb_build_object('status', old_status), jsonb_build_object('status', 'ACTIVE')
FROM changed;

-- name: not_sold
-- A lot absent from W* whose VIN is listed under a newer lot did not sell: it was relisted.
WITH candidates AS (
    SELECT t.lot_number, t.status AS old_status, t.relisted_as
    FROM lots t
    WHERE t.relisted_as IS NOT NULL
      AND t.status IN ('ACTIVE', 'PENDING_RESULT')
      AND t.first_seen_at <= %(as_of)s
      AND NOT EXISTS (SELECT 1 FROM staging.presence p WHERE p.lot_number = t.lot_number)
), changed AS (
    UPDATE lots t
    SET status = 'NOT_SOLD', status_reason = 'relisted', status_changed_at = %(as_of)s, updated_at = now()
    FROM candidates c
    WHERE t.lot_number = c.lot_number
    RETURNING t.lot_number, c.old_status, c.relisted_as
)
INSERT INTO lot_events (lot_number, load_id, at, kind, reason, old, new)
SELECT lot_number, %(load_id)s, %(as_of)s, 'status', 'relisted',
       jsonb_build_object('status', old_status), jsonb_build_object('status', 'NOT_SOLD', 'relisted_as', relisted_as)
FROM changed;

-- name: pending_result
-- An ACTIVE lot absent from W* whose auction time + grace has passed (by W*'s clock) awaits its result.
WITH changed AS (
    UPDATE lots t
    SET status = 'PENDING_RESULT', status_reason = 'vanished_after_auction', status_changed_at = %(as_of)s,
        updated_at = now()
    WHERE t.status = 'ACTIVE'
      AND t.auction_at <= %(as_of)s::timestamptz - %(grace)s::interval
      AND t.first_seen_at <= %(as_of)s
      AND NOT EXISTS (SELECT 1 FROM staging.presence p WHERE p.lot_number = t.lot_number)
    RETURNING t.lot_number, t.auction_at
)
INSERT INTO lot_events (lot_number, load_id, at, kind, reason, old, new)
SELECT lot_number, %(load_id)s, %(as_of)s, 'status', 'vanished_after_auction',
       jsonb_build_object('status', 'ACTIVE'), jsonb_build_object('status', 'PENDING_RESULT', 'auction_at', auction_at)
FROM changed;
