-- 0003: one row per window a flow (or `vinops run`) ran: fetched, loaded, skipped, not modified, rejected or
-- failed. The circuit breaker counts the failed and rejected runs since the newest good one (loaded, skipped,
-- not_modified); the next conditional GET reads the validators of the newest run whose file loaded or was
-- skipped. Written by vinops.runs.record_run, each row in its own transaction (after a failed window rolled
-- back). `reason` is one masked line: never a feed key, a password or a cookie.

CREATE TABLE audit.window_runs (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at     timestamptz NOT NULL,
    finished_at    timestamptz NOT NULL DEFAULT now(),
    outcome        text NOT NULL
                   CONSTRAINT window_runs_outcome_known
                   CHECK (outcome IN ('loaded', 'skipped', 'not_modified', 'rejected', 'failed')),
    load_id        bigint REFERENCES raw.csv_files (load_id) ON DELETE SET NULL,
    sha256         text,
    bytes          bigint CONSTRAINT window_runs_bytes_not_negative CHECK (bytes >= 0),
    etag           text,
    last_modified  text,
    reason         text,
    retryable      boolean,
    seconds        double precision CONSTRAINT window_runs_seconds_not_negative CHECK (seconds >= 0),
    flow_run_id    text,
    summary        jsonb,
    CONSTRAINT window_runs_failure_has_reason CHECK (outcome NOT IN ('rejected', 'failed') OR reason IS NOT NULL)
);
-- newest first (the UI's list, the breaker's count)
CREATE INDEX window_runs_newest_idx ON audit.window_runs (started_at DESC, id DESC);
-- the newest good run (the breaker resets there)
CREATE INDEX window_runs_good_idx ON audit.window_runs (id DESC)
    WHERE outcome IN ('loaded', 'skipped', 'not_modified');
CREATE INDEX window_runs_load_id_idx ON audit.window_runs (load_id) WHERE load_id IS NOT NULL;
COMMENT ON TABLE audit.window_runs IS 'One row per window run (fetch + load): outcome, the fetched file''s validators, a masked one-line reason on failure; written by vinops.runs.';
