-- Registered sites: the collectors reload them periodically. Latest version of a domain wins.
CREATE TABLE IF NOT EXISTS audience.sites
(
    domain String,
    origins Array(String),
    timezone String,
    respect_gpc UInt8,
    updated_at DateTime64(3, 'UTC'),
    deleted UInt8
)
ENGINE = ReplacingMergeTree(updated_at, deleted)
ORDER BY domain;
