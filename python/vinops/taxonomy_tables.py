"""The taxonomy's tables in PostgreSQL: the seed from the files, the parser's mapping, the unknown values.

:mod:`vinops.taxonomy` reads and matches the files without a database; this module is its database side:

* :func:`seed_taxonomy` loads ``sql/taxonomy/*.csv`` into ``taxonomy.terms``, ``taxonomy.raw_values`` and
  ``taxonomy.title_state_labels`` (:func:`vinops.db.migrate` calls it after the migrations);
* :func:`taxonomy_mapping` reads the parser's ``{domain: {folded raw value: term id}}`` back from them;
* :func:`unknown_values` lists ``audit.unknown_values`` (the values no taxonomy row matched).

Every function takes an open connection; none opens one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from vinops import taxonomy as tx

__all__ = ["seed_taxonomy", "taxonomy_mapping", "unknown_values"]


def seed_taxonomy(conn: psycopg.Connection, directory: Path | None = None) -> dict[str, Any]:
    """Load ``directory`` (default: :func:`vinops.taxonomy.default_directory`) into the ``taxonomy`` tables in
    one transaction: terms upserted by id (never deleted: lots reference them), raw spellings and title-state
    labels replaced to match the files.

    Missing files are skipped (reported under ``missing``); a file that fails validation raises ValueError."""
    base = Path(directory) if directory is not None else tx.default_directory()
    names = (tx.TERMS_FILE, tx.VALUES_FILE, tx.TITLE_STATE_LABELS_FILE)
    missing = [n for n in names if not (base / n).is_file()]
    if tx.TERMS_FILE in missing:
        return {"terms": 0, "values": 0, "title_state_labels": 0, "missing": missing}
    if missing:
        # load() needs all three files; read what exists with the same validation.
        terms = tx._load_terms(base / tx.TERMS_FILE)
        values = tx._load_values(base / tx.VALUES_FILE, terms) if tx.VALUES_FILE not in missing else []
        labels = (
            tx._load_title_state_labels(base / tx.TITLE_STATE_LABELS_FILE, terms)
            if tx.TITLE_STATE_LABELS_FILE not in missing
            else []
        )
    else:
        loaded = tx.load(base)
        terms, values, labels = loaded.terms, loaded.values, loaded.title_state_labels

    with conn.transaction():
        conn.execute(
            """INSERT INTO taxonomy.terms AS t (id, domain, code, en, ru)
               SELECT * FROM unnest(%s::smallint[], %s::text[], %s::text[], %s::text[], %s::text[])
               ON CONFLICT (id) DO UPDATE SET domain = EXCLUDED.domain, code = EXCLUDED.code, en = EXCLUDED.en, ru = EXCLUDED.ru
               WHERE (t.domain, t.code, t.en, t.ru) IS DISTINCT FROM (EXCLUDED.domain, EXCLUDED.code, EXCLUDED.en, EXCLUDED.ru)""",
            (
                [t.id for t in terms],
                [t.domain for t in terms],
                [t.code for t in terms],
                [t.en for t in terms],
                [t.ru for t in terms],
            ),
        )
        if tx.VALUES_FILE not in missing:
            conn.execute(
                """DELETE FROM taxonomy.raw_values v
                   WHERE NOT EXISTS (SELECT 1 FROM unnest(%s::text[], %s::text[]) AS f(domain, raw)
                                     WHERE f.domain = v.domain AND f.raw = v.raw)""",
                ([v.domain for v in values], [v.raw for v in values]),
            )
            conn.execute(
                """INSERT INTO taxonomy.raw_values AS r (domain, raw, code)
                   SELECT * FROM unnest(%s::text[], %s::text[], %s::text[])
                   ON CONFLICT (domain, raw) DO UPDATE SET code = EXCLUDED.code WHERE r.code <> EXCLUDED.code""",
                ([v.domain for v in values], [v.raw for v in values], [v.code for v in values]),
            )
        if tx.TITLE_STATE_LABELS_FILE not in missing:
            conn.execute(
                """DELETE FROM taxonomy.title_state_labels l
                   WHERE NOT EXISTS (SELECT 1 FROM unnest(%s::text[], %s::text[]) AS f(code, state)
                                     WHERE f.code = l.code AND f.state = l.state)""",
                ([x.code for x in labels], [x.state for x in labels]),
            )
            conn.execute(
                """INSERT INTO taxonomy.title_state_labels AS l (code, state, en, ru)
                   SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[])
                   ON CONFLICT (code, state) DO UPDATE SET en = EXCLUDED.en, ru = EXCLUDED.ru
                   WHERE (l.en, l.ru) IS DISTINCT FROM (EXCLUDED.en, EXCLUDED.ru)""",
                ([x.code for x in labels], [x.state for x in labels], [x.en for x in labels], [x.ru for x in labels]),
            )
    return {"terms": len(terms), "values": len(values), "title_state_labels": len(labels), "missing": missing}


def taxonomy_mapping(conn: psycopg.Connection) -> dict[str, dict[str, int]]:
    """``{domain: {folded raw value: term id}}`` for the parser, read from the database (so every code the
    parser emits exists in ``taxonomy.terms``). Every known domain is present, empty if it has no values,
    so unknown values of every domain are counted."""
    mapping: dict[str, dict[str, int]] = {d: {} for d in tx.DOMAINS}
    for (domain,) in conn.execute("SELECT DISTINCT domain FROM taxonomy.terms"):
        mapping.setdefault(domain, {})
    rows = conn.execute(
        "SELECT v.domain, v.raw, t.id FROM taxonomy.raw_values v JOIN taxonomy.terms t USING (domain, code)"
    ).fetchall()
    for domain, raw, term_id in rows:
        mapping.setdefault(domain, {})[tx.fold(raw)] = term_id
    return mapping


def unknown_values(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """``audit.unknown_values``, most frequent first: ``{domain, value, count, first_seen_at, last_seen_at,
    first_load_id, last_load_id, maps_to}``. ``maps_to`` is the code the value has now (a row was added to the
    taxonomy after it was counted, and the database was reseeded), else None.

    Raises ``psycopg.errors.UndefinedTable`` on a database that was never migrated."""
    rows = conn.execute(
        """SELECT domain, value, count, first_seen_at, last_seen_at, first_load_id, last_load_id
           FROM audit.unknown_values
           ORDER BY count DESC, domain, value"""
    ).fetchall()
    mapping = taxonomy_mapping(conn)
    codes = dict(conn.execute("SELECT id, code FROM taxonomy.terms").fetchall())
    out = []
    for domain, value, count, first_seen, last_seen, first_load, last_load in rows:
        term_id = mapping.get(domain, {}).get(tx.fold(value))
        out.append(
            {
                "domain": domain,
                "value": value,
                "count": count,
                "first_seen_at": first_seen,
                "last_seen_at": last_seen,
                "first_load_id": first_load,
                "last_load_id": last_load,
                "maps_to": codes.get(term_id) if term_id is not None else None,
            }
        )
    return out
