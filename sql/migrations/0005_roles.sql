-- 0005: database roles: one that loads, one that only reads.
--
--   vinops_writer  the loader (`vinops ingest`, `vinops images`, the flows): reads every table; inserts,
--                  updates, deletes and truncates the tables of raw, staging, audit and public (not
--                  public.vinops_migrations, not taxonomy: `vinops db migrate` writes those); creates its
--                  per-window working table in staging (and analyzes the staging tables on PostgreSQL 17+,
--                  MAINTAIN); uses the identity sequences; executes every function.
--   vinops_reader  the site: reads every table and view of the five schemas and executes the functions that
--                  cannot write (lot_labels, vehicle_labels, taxonomy.require_lang: STABLE or IMMUTABLE, which
--                  PostgreSQL forbids to modify data); nothing else. A VOLATILE function is never granted to it.
--
-- Both are group roles (NOLOGIN): give each service its own login and make it a member, e.g.
--   CREATE ROLE site LOGIN PASSWORD '…' IN ROLE vinops_reader;
--   CREATE ROLE loader LOGIN PASSWORD '…' IN ROLE vinops_writer;
-- The role that runs `vinops db migrate` stays the owner of every object. A loader that is not the owner
-- loads a first window with per-row key checks instead of dropping and re-adding the keys (only an owner may
-- alter a table): slower, the same rows.
--
-- Roles belong to the whole cluster, which several databases may share (and two migrations may create them at
-- once): each is created only when missing, and one created meanwhile by another session is fine. Creating
-- them needs CREATEROLE (or a superuser); without it, create the two roles once as a superuser and migrate
-- again. The grants cover what exists now; ALTER DEFAULT PRIVILEGES covers the tables, sequences and functions
-- later migrations create (when the same role runs them): new functions are not executable by PUBLIC, only by
-- vinops_writer, until a migration grants a read-only one to vinops_reader.

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['vinops_writer', 'vinops_reader'] LOOP
        CONTINUE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r);
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN
                NULL;  -- created by a concurrent migration of another database of the cluster
            WHEN insufficient_privilege THEN
                RAISE EXCEPTION 'cannot create the role %: the migrating role lacks CREATEROLE', r
                    USING HINT = 'create the roles vinops_writer and vinops_reader (NOLOGIN) as a superuser, then migrate again';
        END;
    END LOOP;
END
$$;

GRANT USAGE ON SCHEMA public, raw, staging, taxonomy, audit TO vinops_writer, vinops_reader;
GRANT CREATE ON SCHEMA staging TO vinops_writer;

GRANT SELECT ON ALL TABLES IN SCHEMA public, raw, staging, taxonomy, audit TO vinops_writer, vinops_reader;
GRANT INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public, raw, staging, audit TO vinops_writer;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON public.vinops_migrations FROM vinops_writer;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public, raw, staging, audit TO vinops_writer;

REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public, raw, staging, taxonomy, audit FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public, raw, staging, taxonomy, audit TO vinops_writer;
GRANT EXECUTE ON FUNCTION lot_labels(text), vehicle_labels(text), taxonomy.require_lang(text) TO vinops_reader;

ALTER DEFAULT PRIVILEGES IN SCHEMA public, raw, staging, taxonomy, audit
    GRANT SELECT ON TABLES TO vinops_writer, vinops_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA public, raw, staging, audit
    GRANT INSERT, UPDATE, DELETE, TRUNCATE ON TABLES TO vinops_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public, raw, staging, audit
    GRANT USAGE ON SEQUENCES TO vinops_writer;
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
ALTER DEFAULT PRIVILEGES GRANT EXECUTE ON FUNCTIONS TO vinops_writer;

-- ANALYZE of a table one does not own needs MAINTAIN (PostgreSQL 17+); older servers skip it with a warning.
DO $$
BEGIN
    IF current_setting('server_version_num')::int >= 170000 THEN
        EXECUTE 'GRANT MAINTAIN ON ALL TABLES IN SCHEMA staging TO vinops_writer';
        EXECUTE 'ALTER DEFAULT PRIVILEGES IN SCHEMA staging GRANT MAINTAIN ON TABLES TO vinops_writer';
    END IF;
END
$$;
