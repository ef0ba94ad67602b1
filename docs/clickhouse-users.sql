-- Least-privilege ClickHouse roles and users for Kalido Audience on a ClickHouse server.
--
-- Run as a user allowed to manage access (SQL-driven access control enabled), after replacing
-- each password placeholder with a long random secret (or use IDENTIFIED WITH sha256_hash, or
-- TLS certificates) and each HOST clause with the addresses the product runs on.
-- SECURITY.md explains how these roles map onto AUDIENCE_CLICKHOUSE_URL.
-- tests/storage/test_clickhouse_users.py checks that every statement parses (ClickHouse's own parser,
-- through chDB).

CREATE ROLE IF NOT EXISTS audience_ingest;
CREATE ROLE IF NOT EXISTS audience_dashboards;
CREATE ROLE IF NOT EXISTS audience_privacy;
CREATE ROLE IF NOT EXISTS audience_admin;

-- Ingest: the collector's writer appends events, and reads the registered sites and the
-- erased visitors (whose beacons and spooled events it drops).
GRANT INSERT ON audience.events TO audience_ingest;
GRANT SELECT ON audience.sites TO audience_ingest;
GRANT SELECT ON audience.erased_visitors TO audience_ingest;
-- The materialized views write the rollups as part of each insert into audience.events. A view
-- with SQL SECURITY DEFINER (the default for materialized views on recent ClickHouse) writes
-- with the rights of the user who created it, the one that ran the migrations; a view run with
-- the inserting user's rights (SQL SECURITY INVOKER, or an older server) needs these grants.
GRANT INSERT ON audience.traffic_hourly TO audience_ingest;
GRANT INSERT ON audience.traffic_daily TO audience_ingest;
GRANT INSERT ON audience.visits TO audience_ingest;
-- The writer of the process owning the store rolls up the closed visits (collector/storage/closed_visits.py):
-- it reads the visits, writes the rollups and the watermark, and deletes the rollup rows it
-- writes again; every writer marks the hours of the events it stores late.
GRANT SELECT ON audience.visits TO audience_ingest;
GRANT SELECT ON audience.visit_summaries TO audience_ingest;
GRANT SELECT, INSERT, ALTER DELETE ON audience.visit_rollup TO audience_ingest;
GRANT SELECT, INSERT, ALTER DELETE ON audience.visit_rollup_daily TO audience_ingest;
GRANT SELECT, INSERT, ALTER DELETE ON audience.closed_visits TO audience_ingest;
GRANT SELECT, INSERT ON audience.visit_rollup_through TO audience_ingest;
GRANT SELECT, INSERT, ALTER DELETE ON audience.visit_rollup_stale TO audience_ingest;
-- It also keeps the funnels' closed visits (collector/storage/funnel_rollup.py): it reads the
-- funnels and the events, writes the rows of each funnel's steps, their hourly cells and their
-- spans.
GRANT SELECT ON audience.funnels TO audience_ingest;
GRANT SELECT ON audience.events TO audience_ingest;
GRANT SELECT, INSERT, ALTER DELETE ON audience.funnel_pageviews TO audience_ingest;
GRANT SELECT, INSERT, ALTER DELETE ON audience.funnel_rollup_spans TO audience_ingest;
GRANT SELECT, INSERT, ALTER DELETE ON audience.funnel_visit_cells TO audience_ingest;

-- Dashboards: the stats layer reads the events and the rollups (every stats query runs with
-- readonly = 2); accounts, API keys and sign-outs are read and written (dashboards/accounts.py:
-- a change inserts a new version of the row, never an UPDATE or a DELETE).
GRANT SELECT ON audience.events TO audience_dashboards;
GRANT SELECT ON audience.traffic_hourly TO audience_dashboards;
GRANT SELECT ON audience.traffic_daily TO audience_dashboards;
GRANT SELECT ON audience.visits TO audience_dashboards;
GRANT SELECT ON audience.visit_summaries TO audience_dashboards;
GRANT SELECT ON audience.visit_rollup TO audience_dashboards;
GRANT SELECT ON audience.visit_rollup_daily TO audience_dashboards;
GRANT SELECT ON audience.closed_visits TO audience_dashboards;
GRANT SELECT ON audience.visit_rollup_through TO audience_dashboards;
GRANT SELECT ON audience.visit_rollup_stale TO audience_dashboards;
GRANT SELECT ON audience.funnel_pageviews TO audience_dashboards;
GRANT SELECT ON audience.funnel_rollup_spans TO audience_dashboards;
GRANT SELECT ON audience.funnel_visit_cells TO audience_dashboards;
GRANT SELECT ON audience.sites TO audience_dashboards;
GRANT SELECT, INSERT ON audience.users TO audience_dashboards;
GRANT SELECT, INSERT ON audience.api_keys TO audience_dashboards;
GRANT SELECT, INSERT ON audience.session_revocations TO audience_dashboards;
-- The audit of administrative actions (dashboards/audit.py): written by the dashboards and the
-- CLI, read by administrators. Adding, changing and removing sites in the browser (and erasing a
-- removed site's data) uses the admin role's rights below, which the serving user has.
GRANT SELECT, INSERT ON audience.admin_audit TO audience_dashboards;
-- The team in the browser (dashboards/team.py): keys' last use, invitations, recovery codes.
GRANT SELECT, INSERT ON audience.api_key_uses TO audience_dashboards;
GRANT SELECT, INSERT ON audience.invitations TO audience_dashboards;
GRANT SELECT, INSERT ON audience.recovery_codes TO audience_dashboards;
GRANT SELECT, INSERT ON audience.shared_links TO audience_dashboards;
-- Annotations of the dashboards' time series (dashboards/annotations.py).
GRANT SELECT, INSERT ON audience.annotations TO audience_dashboards;
-- Page goals and funnels (dashboards/goals.py).
GRANT SELECT, INSERT ON audience.goals TO audience_dashboards;
GRANT SELECT, INSERT ON audience.funnels TO audience_dashboards;
-- Email reports (dashboards/reports.py): the reports page and its "send a test now", and the
-- deliveries the owner's scheduler records.
GRANT SELECT, INSERT ON audience.email_reports TO audience_dashboards;
GRANT SELECT, INSERT ON audience.email_report_deliveries TO audience_dashboards;

-- Visitor rights and retention, run by the process that owns the store (the visitor's access,
-- export and erasure; the daily retention job): a visitor's events and visits are read and
-- deleted, the rollup days they counted in are deleted and rebuilt from the remaining events, expired
-- monthly partitions are dropped and deleted rows rewritten out of their parts. DELETE FROM,
-- DROP PARTITION and APPLY DELETED MASK all need ALTER DELETE; the rebuild reads the views'
-- definitions and the job the tables' partitions from the system tables (SHOW TABLES).
GRANT SELECT, ALTER DELETE ON audience.events TO audience_privacy;
GRANT SELECT, INSERT, ALTER DELETE ON audience.traffic_hourly TO audience_privacy;
GRANT SELECT, INSERT, ALTER DELETE ON audience.traffic_daily TO audience_privacy;
GRANT SELECT, ALTER DELETE ON audience.visits TO audience_privacy;
GRANT SELECT, ALTER DELETE ON audience.closed_visits TO audience_privacy;
GRANT INSERT ON audience.visit_rollup_stale TO audience_privacy;
GRANT SELECT, INSERT ON audience.erased_visitors TO audience_privacy;
GRANT SELECT, INSERT ON audience.rights_requests TO audience_privacy;
GRANT SHOW TABLES ON audience.* TO audience_privacy;

-- Migrations and administration (`audience migrate`, and `audience serve`, which applies the
-- migrations at start; `audience sites|users|keys|privacy`): the DDL of schema/, and every
-- read and write of the commands. ClickHouse checks the CREATE grants even for CREATE ... IF
-- NOT EXISTS of a table that exists. No DROP, no TRUNCATE: the product never needs them.
GRANT CREATE DATABASE ON audience.* TO audience_admin;
GRANT CREATE TABLE, CREATE VIEW, ALTER TABLE ON audience.* TO audience_admin;
GRANT SELECT, INSERT, SHOW TABLES ON audience.* TO audience_admin;

-- The users. A user's granted roles are all active by default. Today `audience serve` uses one
-- AUDIENCE_CLICKHOUSE_URL for everything it does, the migrations at start included (SECURITY.md):
-- its user gets the four roles, still nothing beyond the audience database and no DROP, TRUNCATE
-- or access management. The operators' commands (`audience migrate|sites|users|keys`) may run as
-- a user of their own, from the host they are run on.
CREATE USER IF NOT EXISTS audience_collector
    IDENTIFIED WITH sha256_password BY 'replace-with-a-long-random-password'
    HOST IP '10.0.0.0/8';
GRANT audience_ingest, audience_dashboards, audience_privacy, audience_admin TO audience_collector;

CREATE USER IF NOT EXISTS audience_operator
    IDENTIFIED WITH sha256_password BY 'replace-with-another-long-random-password'
    HOST IP '10.0.0.0/8';
GRANT audience_admin, audience_privacy TO audience_operator;
