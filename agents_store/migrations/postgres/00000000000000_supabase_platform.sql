-- What a Supabase project provides before any migration of ours runs, for a plain PostgreSQL server:
-- the roles the Data API switches to (anon, authenticated, service_role, which bypasses row-level
-- security), the auth schema with auth.users, and auth.uid() / auth.role() / auth.jwt(), which read
-- the request's JWT claims from the setting `request.jwt.claims` exactly as Supabase's own do.
--
-- Every object is created only when it is missing: on a Supabase database (reached by its connection
-- string) this migration changes nothing, and Supabase refuses DDL in its auth schema anyway.
-- Roles belong to the whole server, so a second database on the same server finds them already there.
-- Creating the roles needs a superuser (BYPASSRLS); see docs/supabase.md for a restricted login.

DO $platform$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'anon') THEN
        CREATE ROLE anon NOLOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticated') THEN
        CREATE ROLE authenticated NOLOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'service_role') THEN
        CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
    END IF;

    IF to_regnamespace('auth') IS NULL THEN
        CREATE SCHEMA auth;
        GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
        GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
    END IF;

    -- The columns agentctl writes, named and typed as in Supabase's auth.users.
    IF to_regclass('auth.users') IS NULL THEN
        CREATE TABLE auth.users (
            id                  uuid PRIMARY KEY,
            email               varchar(255),
            raw_user_meta_data  jsonb,
            created_at          timestamptz DEFAULT now(),
            updated_at          timestamptz DEFAULT now()
        );
    END IF;

    IF to_regprocedure('auth.jwt()') IS NULL THEN
        CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $fn$
            SELECT coalesce(
                nullif(current_setting('request.jwt.claim', true), ''),
                nullif(current_setting('request.jwt.claims', true), '')
            )::jsonb
        $fn$;
        GRANT EXECUTE ON FUNCTION auth.jwt() TO anon, authenticated, service_role;
    END IF;
    IF to_regprocedure('auth.uid()') IS NULL THEN
        CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $fn$
            SELECT coalesce(
                nullif(current_setting('request.jwt.claim.sub', true), ''),
                (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
            )::uuid
        $fn$;
        GRANT EXECUTE ON FUNCTION auth.uid() TO anon, authenticated, service_role;
    END IF;
    IF to_regprocedure('auth.role()') IS NULL THEN
        CREATE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS $fn$
            SELECT coalesce(
                nullif(current_setting('request.jwt.claim.role', true), ''),
                (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
            )::text
        $fn$;
        GRANT EXECUTE ON FUNCTION auth.role() TO anon, authenticated, service_role;
    END IF;
END
$platform$;
