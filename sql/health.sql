-- Read-only figures for `vinops serve` (/metrics, /health) and `vinops health`, read by vinops.health in one
-- REPEATABLE READ, READ ONLY transaction, so every figure of one answer comes from the same snapshot.
--
-- A "window" is a row of audit.window_runs (what flows and `vinops run` record), plus each load that
-- `vinops ingest` made outside a run: a raw.csv_files row that no `loaded` run references counts as one
-- loaded window. The "last window" is the newest load (raw.csv_files), whichever path wrote it.

-- name: clock
SELECT now();

-- name: lots_by_status
SELECT status, count(*) FROM lots GROUP BY status;

-- name: vehicles
SELECT count(*) FROM vehicles;

-- name: lots_missing_vehicle
-- Lots naming a VIN that has no vehicles row: the foreign key forbids it, but a bulk load drops and
-- re-validates that key, so it is checked here and must stay 0.
SELECT count(*) FROM lots l
WHERE l.vin IS NOT NULL AND NOT EXISTS (SELECT 1 FROM vehicles v WHERE v.vin = l.vin);

-- name: runs_by_outcome
SELECT outcome, count(*) FROM audit.window_runs GROUP BY outcome;

-- name: loads_outside_runs
SELECT count(*) FROM raw.csv_files f
WHERE NOT EXISTS (SELECT 1 FROM audit.window_runs r WHERE r.load_id = f.load_id AND r.outcome = 'loaded');

-- name: last_load
-- The newest loaded window, its age, and the stage seconds its run recorded (a load made by `vinops ingest`
-- has no run: raw.csv_files.summary does not keep seconds).
SELECT f.load_id, f.loaded_at, f.window_at, extract(epoch FROM now() - f.loaded_at)::double precision AS age_seconds,
       f.rows_in, f.rows_loaded, f.rows_quarantined, f.valid, f.validation_errors, f.completion_eligible,
       f.completion_note, f.raw_key, f.raw_deleted_at, f.summary,
       (SELECT r.summary -> 'seconds' FROM audit.window_runs r
        WHERE r.load_id = f.load_id AND r.outcome = 'loaded' ORDER BY r.id DESC LIMIT 1) AS seconds
FROM raw.csv_files f
ORDER BY f.loaded_at DESC, f.load_id DESC
LIMIT 1;

-- name: last_run
SELECT id, started_at, finished_at, extract(epoch FROM now() - finished_at)::double precision AS age_seconds,
       outcome, reason, retryable, seconds, summary -> 'fetch' AS fetch
FROM audit.window_runs
ORDER BY id DESC
LIMIT 1;

-- name: last_failed_run
SELECT finished_at, outcome, reason FROM audit.window_runs
WHERE outcome IN ('failed', 'rejected')
ORDER BY id DESC
LIMIT 1;

-- name: windows_since
-- Every window that ended after %(since)s, oldest first: runs, and loads made outside a run.
SELECT at, outcome, seconds, rows_in, lots_changed FROM (
    SELECT r.finished_at AS at, r.outcome, r.seconds,
           (r.summary ->> 'rows_in')::bigint AS rows_in,
           (r.summary ->> 'lots_inserted')::bigint + (r.summary ->> 'lots_updated')::bigint AS lots_changed
    FROM audit.window_runs r
    WHERE r.finished_at > %(since)s
    UNION ALL
    SELECT f.loaded_at, 'loaded', NULL::double precision, f.rows_in,
           (f.summary ->> 'lots_inserted')::bigint + (f.summary ->> 'lots_updated')::bigint
    FROM raw.csv_files f
    WHERE f.loaded_at > %(since)s
      AND NOT EXISTS (SELECT 1 FROM audit.window_runs r WHERE r.load_id = f.load_id AND r.outcome = 'loaded')
) w
ORDER BY at;

-- name: totals
-- Sums over every loaded window (each window's summary is in raw.csv_files.summary).
SELECT count(*),
       coalesce(sum((summary ->> 'vehicles_inserted')::bigint), 0),
       coalesce(sum((summary ->> 'vehicles_updated')::bigint), 0),
       coalesce(sum((summary ->> 'lots_inserted')::bigint), 0),
       coalesce(sum((summary ->> 'lots_updated')::bigint), 0),
       coalesce(sum((summary ->> 'lots_pending_result')::bigint), 0),
       coalesce(sum((summary ->> 'lots_not_sold')::bigint), 0),
       coalesce(sum((summary ->> 'lots_reappeared')::bigint), 0),
       coalesce(sum(rows_in), 0),
       coalesce(sum(rows_quarantined), 0)
FROM raw.csv_files;

-- name: ingest_errors
SELECT count(*), max(at) FROM audit.ingest_errors;

-- name: raw_store
-- Files the raw store keeps (a key, not pruned) and their original size; files pruned by the retention.
SELECT count(*) FILTER (WHERE raw_key IS NOT NULL AND raw_deleted_at IS NULL),
       coalesce(sum(bytes) FILTER (WHERE raw_key IS NOT NULL AND raw_deleted_at IS NULL), 0),
       count(*) FILTER (WHERE raw_deleted_at IS NOT NULL)
FROM raw.csv_files;

-- name: photos
-- Stored photos, the newest check of each lot by outcome, the checks of the last 24 hours.
SELECT (SELECT count(*) FROM images),
       (SELECT coalesce(sum(bytes), 0) FROM images),
       count(*) FILTER (WHERE outcome = 'photos'),
       count(*) FILTER (WHERE outcome = 'none'),
       count(*) FILTER (WHERE outcome = 'failed'),
       count(*) FILTER (WHERE checked_at > now() - interval '24 hours'),
       count(*) FILTER (WHERE checked_at > now() - interval '24 hours' AND outcome = 'failed'),
       max(checked_at)
FROM photo_checks;

-- name: photo_lots
-- ACTIVE lots; those whose newest check left photos in `images` (photo_checks.photos); the backlog: ACTIVE
-- lots with an image address, no photo, and no check yet or a failed one (a lot answered "no photos" is
-- done). One pass over lots ⋈ photo_checks: the photo_coverage view's EXISTS per lot costs several times more.
SELECT count(*),
       count(*) FILTER (WHERE c.photos > 0),
       count(*) FILTER (WHERE l.image_url IS NOT NULL AND coalesce(c.photos, 0) = 0
                          AND (c.outcome IS NULL OR c.outcome = 'failed'))
FROM lots l
LEFT JOIN photo_checks c ON c.lot_number = l.lot_number
WHERE l.status = 'ACTIVE';
