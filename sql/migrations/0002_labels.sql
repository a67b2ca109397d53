-- 0002: lots and vehicles with the labels of their coded fields, in a requested language.
--
--   taxonomy.require_lang(lang)  true for 'en' and 'ru'; any other value (NULL too) is an error
--                                (SQLSTATE 22023 invalid_parameter_value)
--   lot_labels(lang)             one row per lot: lot_number, then for each coded field <field>_code (the
--                                term's code, e.g. 'FRONT_END') and <field> (its label); title_type is the
--                                title state's own label where taxonomy.title_state_labels has one;
--                                announcement_codes / announcements are arrays in feed order
--   vehicle_labels(lang)         one row per vehicle: vin, then the same pairs for its coded fields
--
-- A NULL code (an empty or unknown value; the raw text stays on the row) gives NULL code and label.
--
-- Both are SQL functions PostgreSQL inlines into the calling query (STABLE, not STRICT, one SELECT), so
-- `SELECT * FROM lot_labels('ru') WHERE lot_number = $1` is a primary-key lookup of lots, not a scan, and
-- joins, filters and LIMITs on the result reach the tables. The language check is a constant condition:
-- evaluated once per query, before any row is read. A later migration that renames or retypes a coded
-- column of lots or vehicles recreates these functions.

CREATE FUNCTION taxonomy.require_lang(lang text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
    IF lang IN ('en', 'ru') THEN
        RETURN true;
    END IF;
    RAISE EXCEPTION 'unsupported label language % (labels exist in en and ru)', coalesce(quote_literal(lang), 'NULL')
        USING ERRCODE = 'invalid_parameter_value';
END
$$;
COMMENT ON FUNCTION taxonomy.require_lang(text) IS 'true for a supported label language (en, ru); raises invalid_parameter_value otherwise.';

CREATE FUNCTION lot_labels(lang text)
RETURNS TABLE (
    lot_number             bigint,
    vehicle_type_code      text,
    vehicle_type           text,
    body_style_code        text,
    body_style             text,
    color_code             text,
    color                  text,
    damage_primary_code    text,
    damage_primary         text,
    damage_secondary_code  text,
    damage_secondary       text,
    title_type_code        text,
    title_type             text,
    has_keys_code          text,
    has_keys               text,
    lot_cond_code          text,
    lot_cond               text,
    runs_drives_code       text,
    runs_drives            text,
    odometer_brand_code    text,
    odometer_brand         text,
    drive_code             text,
    drive                  text,
    transmission_code      text,
    transmission           text,
    fuel_code              text,
    fuel                   text,
    sale_status_code       text,
    sale_status            text,
    sale_light_code        text,
    sale_light             text,
    announcement_codes     text[],
    announcements          text[]
)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT l.lot_number,
       vt.code, CASE lot_labels.lang WHEN 'ru' THEN vt.ru ELSE vt.en END,
       bs.code, CASE lot_labels.lang WHEN 'ru' THEN bs.ru ELSE bs.en END,
       co.code, CASE lot_labels.lang WHEN 'ru' THEN co.ru ELSE co.en END,
       d1.code, CASE lot_labels.lang WHEN 'ru' THEN d1.ru ELSE d1.en END,
       d2.code, CASE lot_labels.lang WHEN 'ru' THEN d2.ru ELSE d2.en END,
       tt.code, CASE lot_labels.lang WHEN 'ru' THEN coalesce(ts.ru, tt.ru) ELSE coalesce(ts.en, tt.en) END,
       hk.code, CASE lot_labels.lang WHEN 'ru' THEN hk.ru ELSE hk.en END,
       lc.code, CASE lot_labels.lang WHEN 'ru' THEN lc.ru ELSE lc.en END,
       rd.code, CASE lot_labels.lang WHEN 'ru' THEN rd.ru ELSE rd.en END,
       ob.code, CASE lot_labels.lang WHEN 'ru' THEN ob.ru ELSE ob.en END,
       dr.code, CASE lot_labels.lang WHEN 'ru' THEN dr.ru ELSE dr.en END,
       tr.code, CASE lot_labels.lang WHEN 'ru' THEN tr.ru ELSE tr.en END,
       fu.code, CASE lot_labels.lang WHEN 'ru' THEN fu.ru ELSE fu.en END,
       ss.code, CASE lot_labels.lang WHEN 'ru' THEN ss.ru ELSE ss.en END,
       sl.code, CASE lot_labels.lang WHEN 'ru' THEN sl.ru ELSE sl.en END,
       CASE WHEN l.announcement_codes IS NOT NULL THEN
           ARRAY(SELECT t.code
                 FROM unnest(l.announcement_codes) WITH ORDINALITY AS a(id, ord)
                 JOIN taxonomy.terms t ON t.id = a.id
                 ORDER BY a.ord)
       END,
       CASE WHEN l.announcement_codes IS NOT NULL THEN
           ARRAY(SELECT CASE lot_labels.lang WHEN 'ru' THEN t.ru ELSE t.en END
                 FROM unnest(l.announcement_codes) WITH ORDINALITY AS a(id, ord)
                 JOIN taxonomy.terms t ON t.id = a.id
                 ORDER BY a.ord)
       END
FROM lots l
LEFT JOIN taxonomy.terms vt ON vt.id = l.vehicle_type_code
LEFT JOIN taxonomy.terms bs ON bs.id = l.body_style_code
LEFT JOIN taxonomy.terms co ON co.id = l.color_code
LEFT JOIN taxonomy.terms d1 ON d1.id = l.damage_primary_code
LEFT JOIN taxonomy.terms d2 ON d2.id = l.damage_secondary_code
LEFT JOIN taxonomy.terms tt ON tt.id = l.title_type_code
LEFT JOIN taxonomy.title_state_labels ts ON ts.code = tt.code AND ts.state = upper(l.title_state)
LEFT JOIN taxonomy.terms hk ON hk.id = l.has_keys_code
LEFT JOIN taxonomy.terms lc ON lc.id = l.lot_cond_code
LEFT JOIN taxonomy.terms rd ON rd.id = l.runs_drives_code
LEFT JOIN taxonomy.terms ob ON ob.id = l.odometer_brand_code
LEFT JOIN taxonomy.terms dr ON dr.id = l.drive_code
LEFT JOIN taxonomy.terms tr ON tr.id = l.transmission_code
LEFT JOIN taxonomy.terms fu ON fu.id = l.fuel_code
LEFT JOIN taxonomy.terms ss ON ss.id = l.sale_status_code
LEFT JOIN taxonomy.terms sl ON sl.id = l.sale_light_code
WHERE taxonomy.require_lang(lot_labels.lang)
$$;
COMMENT ON FUNCTION lot_labels(text) IS 'Every lot with the code and the label (en or ru) of each coded field; inlined, so filter it like a table: SELECT * FROM lot_labels(''ru'') WHERE lot_number = 123.';

CREATE FUNCTION vehicle_labels(lang text)
RETURNS TABLE (
    vin                text,
    vehicle_type_code  text,
    vehicle_type       text,
    body_style_code    text,
    body_style         text,
    color_code         text,
    color              text,
    drive_code         text,
    drive              text,
    transmission_code  text,
    transmission       text,
    fuel_code          text,
    fuel               text
)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT v.vin,
       vt.code, CASE vehicle_labels.lang WHEN 'ru' THEN vt.ru ELSE vt.en END,
       bs.code, CASE vehicle_labels.lang WHEN 'ru' THEN bs.ru ELSE bs.en END,
       co.code, CASE vehicle_labels.lang WHEN 'ru' THEN co.ru ELSE co.en END,
       dr.code, CASE vehicle_labels.lang WHEN 'ru' THEN dr.ru ELSE dr.en END,
       tr.code, CASE vehicle_labels.lang WHEN 'ru' THEN tr.ru ELSE tr.en END,
       fu.code, CASE vehicle_labels.lang WHEN 'ru' THEN fu.ru ELSE fu.en END
FROM vehicles v
LEFT JOIN taxonomy.terms vt ON vt.id = v.vehicle_type_code
LEFT JOIN taxonomy.terms bs ON bs.id = v.body_style_code
LEFT JOIN taxonomy.terms co ON co.id = v.color_code
LEFT JOIN taxonomy.terms dr ON dr.id = v.drive_code
LEFT JOIN taxonomy.terms tr ON tr.id = v.transmission_code
LEFT JOIN taxonomy.terms fu ON fu.id = v.fuel_code
WHERE taxonomy.require_lang(vehicle_labels.lang)
$$;
COMMENT ON FUNCTION vehicle_labels(text) IS 'Every vehicle with the code and the label (en or ru) of each coded field; inlined, so filter it like a table: SELECT * FROM vehicle_labels(''en'') WHERE vin = $1.';
