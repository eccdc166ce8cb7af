-- PostgreSQL role split for concern-aggregator (see deploy/README.md).
--
-- aggregator_owner   owns the schema: runs `aggregator db upgrade`, nothing else.
-- aggregator_service what `aggregator serve` and `aggregator scheduler` connect as:
--                    reads and writes the service's tables, but on audit_event only
--                    SELECT, INSERT and UPDATE of the three seal columns. It owns no
--                    table, so it cannot ALTER, DISABLE TRIGGER, DROP or TRUNCATE.
-- Migration 0008's trigger refuses UPDATE and DELETE of a sealed audit event for
-- every role but a superuser; these privileges add what a trigger cannot do
-- (TRUNCATE fires no row trigger) and keep the service from switching it off.
--
-- Part 1, once, as a superuser (psql -d aggregator -f ...). Replace the passwords.
CREATE ROLE aggregator_owner LOGIN PASSWORD 'replace-me-owner';
CREATE ROLE aggregator_service LOGIN PASSWORD 'replace-me-service';
ALTER DATABASE aggregator OWNER TO aggregator_owner;
ALTER SCHEMA public OWNER TO aggregator_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO aggregator_service;

-- == Part 2: after every `aggregator db upgrade`, as aggregator_owner (idempotent) ==
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO aggregator_service;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO aggregator_service;
REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA public FROM aggregator_service;
REVOKE ALL ON alembic_version FROM aggregator_service;
GRANT SELECT ON alembic_version TO aggregator_service;
-- The audit trail: append, read, and seal an unsealed event once (the trigger refuses
-- a second seal); never edit what an event says, delete it or empty the table.
REVOKE ALL ON audit_event FROM aggregator_service;
GRANT SELECT, INSERT ON audit_event TO aggregator_service;
GRANT UPDATE (seq, prev_hash, hash) ON audit_event TO aggregator_service;
