-- 0004: lot photos. One row per lot whose lot-images API was asked (vinops.images.fetch_photos): when, and
-- what came of it: 'photos' (stored in `images`), 'none' (404 or an empty list: asked again only after
-- VINOPS_PHOTOS_RETRY_AFTER), 'failed' (429/5xx/network after the retries, a photo that could not be
-- fetched: `reason` says why; asked again after the same interval). Coverage views for the operator.

CREATE TABLE photo_checks (
    lot_number  bigint PRIMARY KEY REFERENCES lots (lot_number) ON DELETE CASCADE,
    checked_at  timestamptz NOT NULL DEFAULT now(),
    outcome     text NOT NULL CONSTRAINT photo_checks_outcome_check CHECK (outcome IN ('photos', 'none', 'failed')),
    reason      text,
    photos      integer NOT NULL DEFAULT 0 CONSTRAINT photo_checks_photos_nonneg CHECK (photos >= 0),
    CONSTRAINT photo_checks_failed_has_reason CHECK (outcome <> 'failed' OR reason IS NOT NULL)
);
COMMENT ON TABLE photo_checks IS 'The newest ask of each lot''s lot-images API: photos stored, none (404 or an empty list) or failed (reason); a lot checked more recently than the retry interval is not asked again.';
COMMENT ON COLUMN photo_checks.photos IS 'Rows in images for the lot after the check (every kept variant of every sequence).';
CREATE INDEX photo_checks_failed_idx ON photo_checks (checked_at DESC) WHERE outcome = 'failed';

-- The share of ACTIVE lots with at least one stored photo, and where the rest stand.
CREATE VIEW photo_coverage AS
SELECT count(*)::bigint                                                   AS active_lots,
       count(*) FILTER (WHERE p.has_photos)::bigint                       AS with_photos,
       count(*) FILTER (WHERE NOT p.has_photos AND c.outcome = 'none')::bigint   AS without_photos_none,
       count(*) FILTER (WHERE NOT p.has_photos AND c.outcome = 'failed')::bigint AS without_photos_failed,
       count(*) FILTER (WHERE NOT p.has_photos AND c.lot_number IS NULL)::bigint AS never_checked,
       CASE WHEN count(*) = 0 THEN NULL
            ELSE round(count(*) FILTER (WHERE p.has_photos)::numeric / count(*), 4) END AS share
FROM lots l
CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM images i WHERE i.lot_number = l.lot_number) AS has_photos) p
LEFT JOIN photo_checks c ON c.lot_number = l.lot_number
WHERE l.status = 'ACTIVE';
COMMENT ON VIEW photo_coverage IS 'ACTIVE lots, how many have at least one stored photo (share = with_photos / active_lots), and the rest by their newest check.';

-- Lots whose newest check failed, and why (newest first).
CREATE VIEW photo_failures AS
SELECT c.lot_number, l.status, l.auction_at, c.checked_at, c.reason, c.photos AS photos_stored, l.image_url
FROM photo_checks c
JOIN lots l ON l.lot_number = c.lot_number
WHERE c.outcome = 'failed'
ORDER BY c.checked_at DESC, c.lot_number;
COMMENT ON VIEW photo_failures IS 'Lots whose newest lot-images check failed: when and why, with the photos stored so far.';
