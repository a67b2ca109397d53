-- 0001: the schemas and tables of the ingest.
--
--   raw       the file registry (one row per loaded window) and quarantined rows
--   staging   UNLOGGED working tables of the window being loaded (empty between windows), and the
--             presence set of the newest complete window (LOGGED: completion depends on it)
--   public    vehicles, lots, lot_events (lot history), images
--   taxonomy  terms (ids stored on lots), raw spellings, title-state labels (seeded from sql/taxonomy)
--   audit     unknown taxonomy values (counted, not one row per occurrence), failed windows
--
-- Applied once by `vinops db migrate` inside a transaction; never edited after release (forward-only).

CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS taxonomy;
CREATE SCHEMA IF NOT EXISTS audit;

-- ---------------------------------------------------------------------------------------------
-- taxonomy

CREATE TABLE taxonomy.terms (
    id      smallint PRIMARY KEY CONSTRAINT terms_id_positive CHECK (id > 0),
    domain  text NOT NULL,
    code    text NOT NULL,
    en      text NOT NULL,
    ru      text NOT NULL,
    CONSTRAINT terms_domain_code_key UNIQUE (domain, code)
);
COMMENT ON TABLE taxonomy.terms IS 'One concept per row; id is the smallint stored in the *_code columns (never reused).';

CREATE TABLE taxonomy.raw_values (
    domain  text NOT NULL,
    raw     text NOT NULL,
    code    text NOT NULL,
    PRIMARY KEY (domain, raw),
    CONSTRAINT raw_values_term_fkey FOREIGN KEY (domain, code) REFERENCES taxonomy.terms (domain, code)
);
COMMENT ON TABLE taxonomy.raw_values IS 'Raw feed spellings (sql/taxonomy/values.csv) and the term code each means.';

CREATE TABLE taxonomy.title_state_labels (
    code   text NOT NULL,
    state  text NOT NULL,
    en     text NOT NULL,
    ru     text NOT NULL,
    PRIMARY KEY (code, state)
);

-- ---------------------------------------------------------------------------------------------
-- raw: one row per loaded window (its file), written in the window's own transaction

CREATE TABLE raw.csv_files (
    load_id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sha256               text NOT NULL CONSTRAINT csv_files_sha256_key UNIQUE
                         CONSTRAINT csv_files_sha256_hex CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    bytes                bigint NOT NULL CONSTRAINT csv_files_bytes_nonneg CHECK (bytes >= 0),
    source_name          text,
    raw_key              text,
    window_at            timestamptz NOT NULL,
    window_at_source     text NOT NULL
                         CONSTRAINT csv_files_window_at_source_check CHECK (window_at_source IN ('given', 'data', 'mtime', 'clock')),
    loaded_at            timestamptz NOT NULL DEFAULT now(),
    rows_in              integer NOT NULL DEFAULT 0,
    rows_loaded          integer NOT NULL DEFAULT 0,
    rows_quarantined     integer NOT NULL DEFAULT 0,
    extra_columns        text[] NOT NULL DEFAULT '{}',
    valid                boolean NOT NULL DEFAULT false,
    validation_errors    text[] NOT NULL DEFAULT '{}',
    completion_eligible  boolean NOT NULL DEFAULT false,
    completion_note      text,
    summary              jsonb NOT NULL DEFAULT '{}',
    raw_deleted_at       timestamptz,
    CONSTRAINT csv_files_rows_add_up CHECK (rows_in = rows_loaded + rows_quarantined),
    CONSTRAINT csv_files_rows_nonneg CHECK (rows_loaded >= 0 AND rows_quarantined >= 0),
    CONSTRAINT csv_files_eligible_is_valid CHECK (NOT completion_eligible OR valid)
);
COMMENT ON TABLE raw.csv_files IS 'The file of every loaded window; load_id tags its staging rows, lots and events. A SHA-256 present here is skipped.';
COMMENT ON COLUMN raw.csv_files.window_at IS 'The instant the window describes: given by the caller, else the newest Last Updated Time in the file (never later than the load), else the file mtime, else the load time.';
COMMENT ON COLUMN raw.csv_files.raw_key IS 'Key of the original file in the raw store (copart/YYYY/MM/DD/HHmm.csv[.zst]).';
CREATE INDEX csv_files_eligible_window_idx ON raw.csv_files (window_at DESC, load_id DESC) WHERE completion_eligible;
CREATE INDEX csv_files_window_idx ON raw.csv_files (window_at DESC, load_id DESC);

CREATE TABLE raw.quarantine (
    load_id     bigint NOT NULL REFERENCES raw.csv_files (load_id) ON DELETE CASCADE,
    row_no      bigint NOT NULL CONSTRAINT quarantine_row_positive CHECK (row_no > 0),
    line_no     bigint,
    reason      text NOT NULL,
    detail      text,
    raw         bytea,
    data        jsonb,
    lot_number  bigint,
    PRIMARY KEY (load_id, row_no),
    CONSTRAINT quarantine_has_content CHECK (raw IS NOT NULL OR data IS NOT NULL)
);
COMMENT ON TABLE raw.quarantine IS 'Rows that did not become lots: parser rejects (raw bytes) and rows a table constraint would refuse (typed row in data).';
COMMENT ON COLUMN raw.quarantine.lot_number IS 'Best-effort lot number of the row: completion treats it as present in its window.';

-- ---------------------------------------------------------------------------------------------
-- staging: the window being loaded. UNLOGGED: never read after its window commits or rolls back.

CREATE UNLOGGED TABLE staging.lots (
    load_id                  bigint NOT NULL,
    lot_number               bigint NOT NULL,
    source_updated_at        timestamptz,
    export_id                bigint,
    yard_number              integer,
    yard_name                text,
    sale_date                date,
    sale_day_of_week         text,
    sale_time_hhmm           smallint,
    time_zone_abbr           text,
    sale_tz                  text,
    auction_at               timestamptz,
    item_number              integer,
    vehicle_type             text,
    vehicle_type_code        smallint,
    year                     smallint,
    make                     text,
    model_group              text,
    model_detail             text,
    body_style               text,
    body_style_code          smallint,
    color                    text,
    color_code               smallint,
    damage_primary           text,
    damage_primary_code      smallint,
    damage_secondary         text,
    damage_secondary_code    smallint,
    title_state              text,
    title_type               text,
    title_type_code          smallint,
    has_keys                 text,
    has_keys_code            smallint,
    lot_cond                 text,
    lot_cond_code            smallint,
    vin                      text,
    vin_valid_iso            boolean,
    vin_check_digit_ok       boolean,
    vin_short_or_legacy      boolean,
    vin_model_year           smallint,
    odometer                 double precision,
    odometer_brand           text,
    odometer_brand_code      smallint,
    retail_value_cents       bigint,
    repair_cost_cents        bigint,
    engine                   text,
    drive                    text,
    drive_code               smallint,
    transmission             text,
    transmission_code        smallint,
    fuel                     text,
    fuel_code                smallint,
    cylinders                smallint,
    runs_drives              text,
    runs_drives_code         smallint,
    sale_status              text,
    sale_status_code         smallint,
    high_bid_cents           bigint,
    special_note             text,
    location_city            text,
    location_state           text,
    location_zip             text,
    location_country         text,
    currency_code            text,
    image_thumbnail          text,
    export_created_at        timestamp,
    grid_row                 text,
    make_offer_eligible      boolean,
    buy_it_now_cents         bigint,
    image_url                text,
    trim                     text,
    rentals                  boolean,
    wholesale                boolean,
    seller_name              text,
    offsite_address1         text,
    offsite_state            text,
    offsite_city             text,
    offsite_zip              text,
    sale_light               text,
    sale_light_code          smallint,
    autograde                double precision,
    announcements            text,
    announcement_codes       smallint[],
    source_row               bigint,
    quote_repaired           boolean,
    utf8_lossy               boolean,
    record_hash              bigint
) WITH (autovacuum_enabled = off);
-- Autovacuum is off for the staging tables: statistics describing the previous window would mislead the
-- planner, which otherwise sizes them from their pages (and the plan tables are analyzed each window).
COMMENT ON TABLE staging.lots IS 'Typed rows of the window being loaded (binary COPY of the parser''s Arrow batches; columns = vinops_core/src/schema.rs), tagged with load_id; rows whose record_hash their ACTIVE lot already stores are not copied (unchanged). Older copies of a lot listed twice are deleted before the upsert.';

-- The full rows of the lots the window changes or refuses (actions update and refused). The narrow decision
-- for every lot, staging.lot_keys, is created by each window (sql/window.sql, plan_keys); new lots go from
-- staging.lots straight into lots, so a first load never copies its rows a second time.
-- Its columns after the first seven are exactly those of staging.lots: a migration changing one changes both.
CREATE UNLOGGED TABLE staging.lot_plan (
    action          text NOT NULL
                    CONSTRAINT lot_plan_action_check CHECK (action IN ('insert', 'update', 'touch', 'none', 'refused')),
    refusal         text,
    stale           boolean NOT NULL,
    fix_first_seen  boolean NOT NULL,
    old_status      text,
    old_vin         text,
    row_hash        bigint NOT NULL,
    LIKE staging.lots,
    PRIMARY KEY (lot_number)
) WITH (autovacuum_enabled = off);

-- What the window does to each vehicle (one row per VIN it writes), with the values to write: the row of the
-- lot that speaks for the VIN (see sql/window.sql, plan_vehicles). relist_check marks the VINs of new lots
-- that may have another lot (link_relists); such a VIN is listed even when its vehicle stays ('none').
CREATE UNLOGGED TABLE staging.vehicle_plan (
    vin                  text NOT NULL,
    lot_number           bigint NOT NULL,
    action               text NOT NULL,       -- insert | update | touch | none
    relist_check         boolean NOT NULL,
    source_updated_at    timestamptz,
    vin_valid_iso        boolean,
    vin_check_digit_ok   boolean,
    vin_short_or_legacy  boolean,
    vin_model_year       smallint,
    year                 smallint,
    make                 text,
    model_group          text,
    model_detail         text,
    trim                 text,
    vehicle_type         text,
    vehicle_type_code    smallint,
    body_style           text,
    body_style_code      smallint,
    color                text,
    color_code           smallint,
    engine               text,
    drive                text,
    drive_code           smallint,
    transmission         text,
    transmission_code    smallint,
    fuel                 text,
    fuel_code            smallint,
    cylinders            smallint
) WITH (autovacuum_enabled = off);

-- The lots present in the newest completion-eligible window (W*): "absent" means absent from this set.
-- LOGGED on purpose: an UNLOGGED table is emptied by a crash, and an empty set would mean "every lot vanished".
CREATE TABLE staging.presence (
    lot_number  bigint NOT NULL
);
CREATE TABLE staging.presence_window (
    singleton  boolean PRIMARY KEY DEFAULT true CONSTRAINT presence_window_singleton CHECK (singleton),
    load_id    bigint NOT NULL REFERENCES raw.csv_files (load_id),
    window_at  timestamptz NOT NULL,
    lots       integer NOT NULL
);

-- ---------------------------------------------------------------------------------------------
-- public: vehicles, lots, lot history, images

CREATE TABLE vehicles (
    vin                  text PRIMARY KEY
                         CONSTRAINT vehicles_vin_normalized
                         CHECK (vin <> '' AND vin = upper(vin COLLATE "C") AND vin = btrim(vin, E' \t\n\r\v\f')),
    vin_valid_iso        boolean,
    vin_check_digit_ok   boolean,
    vin_short_or_legacy  boolean,
    vin_model_year       smallint CONSTRAINT vehicles_vin_model_year_range CHECK (vin_model_year BETWEEN 1980 AND 2039),
    year                 smallint CONSTRAINT vehicles_year_range CHECK (year BETWEEN 1900 AND 2100),
    make                 text,
    model_group          text,
    model_detail         text,
    trim                 text,
    vehicle_type         text,
    vehicle_type_code    smallint REFERENCES taxonomy.terms (id),
    body_style           text,
    body_style_code      smallint REFERENCES taxonomy.terms (id),
    color                text,
    color_code           smallint REFERENCES taxonomy.terms (id),
    engine               text,
    drive                text,
    drive_code           smallint REFERENCES taxonomy.terms (id),
    transmission         text,
    transmission_code    smallint REFERENCES taxonomy.terms (id),
    fuel                 text,
    fuel_code            smallint REFERENCES taxonomy.terms (id),
    cylinders            smallint,
    source_lot_number    bigint NOT NULL,
    source_updated_at    timestamptz,
    source_window_at     timestamptz NOT NULL,
    load_id              bigint NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 90);
COMMENT ON TABLE vehicles IS 'One row per VIN (as normalized: trimmed, ASCII upper-case, letters never edited): the description from its most recently updated listing.';
COMMENT ON COLUMN vehicles.source_lot_number IS 'The lot whose row supplied these values (last write wins on its Last Updated Time).';

CREATE TABLE lots (
    -- What every window, completion and a foreign-key check read comes first, fixed-width columns (the
    -- coded ones) before the texts: reaching them never walks the long values of the listing.
    lot_number             bigint PRIMARY KEY CONSTRAINT lots_lot_number_positive CHECK (lot_number > 0),
    row_hash               bigint NOT NULL,
    source_updated_at      timestamptz,
    source_window_at       timestamptz NOT NULL,
    first_seen_at          timestamptz NOT NULL,
    auction_at             timestamptz,
    relisted_as            bigint REFERENCES lots (lot_number),
    vehicle_type_code      smallint REFERENCES taxonomy.terms (id),
    body_style_code        smallint REFERENCES taxonomy.terms (id),
    color_code             smallint REFERENCES taxonomy.terms (id),
    damage_primary_code    smallint REFERENCES taxonomy.terms (id),
    damage_secondary_code  smallint REFERENCES taxonomy.terms (id),
    title_type_code        smallint REFERENCES taxonomy.terms (id),
    has_keys_code          smallint REFERENCES taxonomy.terms (id),
    lot_cond_code          smallint REFERENCES taxonomy.terms (id),
    odometer_brand_code    smallint REFERENCES taxonomy.terms (id),
    drive_code             smallint REFERENCES taxonomy.terms (id),
    transmission_code      smallint REFERENCES taxonomy.terms (id),
    fuel_code              smallint REFERENCES taxonomy.terms (id),
    runs_drives_code       smallint REFERENCES taxonomy.terms (id),
    sale_status_code       smallint REFERENCES taxonomy.terms (id),
    sale_light_code        smallint REFERENCES taxonomy.terms (id),
    -- the VIN, then the lifecycle side by side (a status change on the same page logs only that stretch)
    vin                    text REFERENCES vehicles (vin),
    status                 text NOT NULL DEFAULT 'ACTIVE'
                           CONSTRAINT lots_status_check CHECK (status IN ('ACTIVE', 'PENDING_RESULT', 'NOT_SOLD', 'SOLD')),
    status_reason          text
                           CONSTRAINT lots_status_reason_check CHECK (status_reason IN ('vanished_after_auction', 'relisted', 'reappeared', 'outcome')),
    status_changed_at      timestamptz,
    updated_at             timestamptz NOT NULL DEFAULT now(),
    -- the listing
    yard_number            integer,
    yard_name              text,
    sale_date              date,
    sale_day_of_week       text,
    sale_time_hhmm         smallint
                           CONSTRAINT lots_sale_time_valid CHECK (sale_time_hhmm BETWEEN 0 AND 2359 AND mod(sale_time_hhmm, 100) < 60),
    time_zone_abbr         text,
    sale_tz                text,
    item_number            integer,
    vehicle_type           text,
    year                   smallint CONSTRAINT lots_year_range CHECK (year BETWEEN 1900 AND 2100),
    make                   text,
    model_group            text,
    model_detail           text,
    trim                   text,
    body_style             text,
    color                  text,
    damage_primary         text,
    damage_secondary       text,
    title_state            text,
    title_type             text,
    has_keys               text,
    lot_cond               text,
    odometer               double precision CONSTRAINT lots_odometer_nonneg CHECK (odometer >= 0),
    odometer_brand         text,
    retail_value_cents     bigint,
    repair_cost_cents      bigint,
    engine                 text,
    drive                  text,
    transmission           text,
    fuel                   text,
    cylinders              smallint,
    runs_drives            text,
    sale_status            text,
    high_bid_cents         bigint,
    buy_it_now_cents       bigint,
    currency_code          text,
    make_offer_eligible    boolean,
    rentals                boolean,
    wholesale              boolean,
    sale_light             text,
    autograde              double precision,
    announcements          text,
    announcement_codes     smallint[],
    special_note           text,
    grid_row               text,
    seller_name            text,
    location_city          text,
    location_state         text,
    location_zip           text,
    location_country       text,
    offsite_address1       text,
    offsite_state          text,
    offsite_city           text,
    offsite_zip            text,
    image_thumbnail        text,
    image_url              text,
    retail_value_usd       numeric(14, 2),
    load_id                bigint NOT NULL,
    created_at             timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT lots_money_nonneg CHECK (retail_value_cents >= 0 AND repair_cost_cents >= 0
                                        AND high_bid_cents >= 0 AND buy_it_now_cents >= 0),
    CONSTRAINT lots_auction_has_date CHECK (auction_at IS NULL OR sale_date IS NOT NULL),
    CONSTRAINT lots_retail_value_usd CHECK (retail_value_usd IS NOT DISTINCT FROM
                                            CASE WHEN currency_code = 'USD' THEN retail_value_cents / 100.0 END),
    CONSTRAINT lots_status_change_recorded CHECK ((status_changed_at IS NULL) = (status_reason IS NULL)),
    CONSTRAINT lots_status_reason_fits CHECK (status_reason IS NULL AND status = 'ACTIVE'
        OR status_reason IS NOT NULL AND (status, status_reason) IN (('PENDING_RESULT', 'vanished_after_auction'), ('NOT_SOLD', 'relisted'),
                                       ('ACTIVE', 'reappeared'), ('SOLD', 'outcome'))),
    CONSTRAINT lots_not_own_relist CHECK (relisted_as <> lot_number)
) WITH (fillfactor = 85);
COMMENT ON TABLE lots IS 'One row per Copart lot number: the listing as of its newest Last Updated Time (last write wins), and its lifecycle status.';
COMMENT ON COLUMN lots.status IS 'ACTIVE (listed), PENDING_RESULT (gone from the feed after its auction + grace), NOT_SOLD (its VIN was relisted under a newer lot), SOLD (reserved for outcome sources).';
COMMENT ON COLUMN lots.auction_at IS 'Sale date + sale time in the yard''s zone, as UTC; NULL when not scheduled.';
COMMENT ON COLUMN lots.retail_value_cents IS 'Est. Retail Value in cents of currency_code; NULL for the feed''s 0.0 (no figure). Same for the other *_cents columns.';
COMMENT ON COLUMN lots.retail_value_usd IS 'Est. Retail Value in US dollars; NULL for 0.0 and for lots priced in another currency. Always retail_value_cents / 100 for USD (CHECK lots_retail_value_usd), written with the row: a GENERATED column would make PostgreSQL copy every inserted or updated row a second time.';
COMMENT ON COLUMN lots.source_updated_at IS 'Last Updated Time of the row these values came from: the last-write-wins key.';
COMMENT ON COLUMN lots.source_window_at IS 'window_at of the file these values came from (tie-break of the last-write-wins key).';
COMMENT ON COLUMN lots.load_id IS 'The window (raw.csv_files.load_id) that last changed the values. No foreign key, on purpose: windows are never deleted, and the check would cost a lookup for every changed lot (also true of vehicles.load_id and lot_events.load_id).';
COMMENT ON COLUMN lots.first_seen_at IS 'window_at of the earliest window that listed the lot.';
COMMENT ON COLUMN lots.row_hash IS 'The parser''s record_hash of the row the lot''s values came from: XXH3-64 of the record''s raw bytes, seeded with a fingerprint of the header, taxonomy, zone table and normalization version (vinops.parse.record_seed). Equal hashes mean equal values (unchanged rows are not even staged); a different hash is confirmed column by column.';
COMMENT ON COLUMN lots.relisted_as IS 'The next lot (by first_seen_at, lot_number) that lists the same VIN.';

CREATE INDEX lots_vin_idx ON lots (vin);
CREATE INDEX lots_active_auction_idx ON lots (auction_at) WHERE status = 'ACTIVE';
CREATE INDEX lots_relisted_open_idx ON lots (lot_number)
    WHERE relisted_as IS NOT NULL AND status IN ('ACTIVE', 'PENDING_RESULT');

CREATE TABLE lot_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lot_number   bigint NOT NULL REFERENCES lots (lot_number) ON DELETE CASCADE,
    load_id      bigint NOT NULL,
    at           timestamptz NOT NULL,
    kind         text NOT NULL CONSTRAINT lot_events_kind_check CHECK (kind IN ('changed', 'status')),
    reason       text,
    old          jsonb NOT NULL,
    new          jsonb NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT lot_events_status_reason CHECK ((kind = 'status') = (reason IS NOT NULL))
);
COMMENT ON TABLE lot_events IS 'Lot history: every real change of a lot''s values (kind changed: only the changed columns, old and new) and every status transition (kind status). A lot''s first listing is lots.first_seen_at.';
CREATE INDEX lot_events_lot_idx ON lot_events (lot_number, id);
CREATE INDEX lot_events_load_idx ON lot_events (load_id);

CREATE TABLE images (
    lot_number      bigint NOT NULL REFERENCES lots (lot_number) ON DELETE CASCADE,
    seq             smallint NOT NULL CONSTRAINT images_seq_nonneg CHECK (seq >= 0),
    variant         text NOT NULL CONSTRAINT images_variant_check CHECK (variant IN ('ful', 'thb', 'hrs')),
    storage_key     text NOT NULL,
    content_sha256  text NOT NULL CONSTRAINT images_sha256_hex CHECK (content_sha256 ~ '^[0-9a-f]{64}$'),
    bytes           integer NOT NULL CONSTRAINT images_bytes_positive CHECK (bytes > 0),
    width           integer CONSTRAINT images_width_positive CHECK (width > 0),
    height          integer CONSTRAINT images_height_positive CHECK (height > 0),
    source_url      text,
    fetched_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (lot_number, seq, variant)
);
CREATE INDEX images_sha256_idx ON images (content_sha256);

-- ---------------------------------------------------------------------------------------------
-- audit

CREATE TABLE audit.unknown_values (
    domain         text NOT NULL,
    value          text NOT NULL,
    count          bigint NOT NULL CONSTRAINT unknown_values_count_positive CHECK (count > 0),
    first_seen_at  timestamptz NOT NULL,
    last_seen_at   timestamptz NOT NULL,
    first_load_id  bigint NOT NULL REFERENCES raw.csv_files (load_id),
    last_load_id   bigint NOT NULL REFERENCES raw.csv_files (load_id),
    PRIMARY KEY (domain, value)
);
COMMENT ON TABLE audit.unknown_values IS 'Categorical values with no taxonomy term: occurrences summed over windows, first and last window seen.';

CREATE TABLE audit.ingest_errors (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    sha256       text,
    source_name  text,
    stage        text,
    error        text NOT NULL
);
COMMENT ON TABLE audit.ingest_errors IS 'Windows that failed and were rolled back (written after the rollback, best effort).';
