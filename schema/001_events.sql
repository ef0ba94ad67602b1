-- One row per accepted event. No column can hold an IP address, a User-Agent or a cookie value:
-- visitor and visit are keyed hashes. The retention TTL is set by retention.sql.
CREATE TABLE IF NOT EXISTS audience.events
(
    site LowCardinality(String),
    ts DateTime('UTC'),
    type LowCardinality(String),
    path String CODEC(ZSTD(3)),
    visitor UInt64,
    visit UInt64,
    visit_number UInt32,
    days_since_last_visit UInt16,
    engaged_ms UInt32,
    city LowCardinality(String),
    country LowCardinality(String),
    operator LowCardinality(String),
    browser LowCardinality(String),
    browser_version LowCardinality(String),
    os LowCardinality(String),
    device LowCardinality(String),
    consent LowCardinality(String),
    INDEX visitor_bloom visitor TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (site, toDate(ts), visitor, ts)
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;
