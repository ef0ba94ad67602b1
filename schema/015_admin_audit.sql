-- Administrative actions, from the dashboards and from the CLI: who (a dashboards account, or
-- "cli:<user>" for a shell), what, on what, when. Never a visitor's data: a site, an account, a
-- key's name or id, a setting (tests/privacy/test_privacy.py checks the table and the logs).
CREATE TABLE IF NOT EXISTS audience.admin_audit
(
    at DateTime64(3, 'UTC'),
    actor String,
    action LowCardinality(String),
    target String,
    detail String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY at
TTL toDateTime(at) + INTERVAL 36 MONTH DELETE;
