-- Page goals and funnels of a site (dashboards/goals.py): the pages they name are path patterns
-- (collector/storage/path_patterns.py). A funnel's steps are 2 to 8 patterns in order, reached
-- within one visit ('visit') or within 7 days of the first step ('7d'). Removing one inserts a
-- version marked deleted.
CREATE TABLE IF NOT EXISTS audience.goals
(
    site String,
    id String,
    name String,
    pattern String,
    created_by String,
    created_at DateTime64(3, 'UTC'),
    updated_at DateTime64(3, 'UTC'),
    deleted UInt8
)
ENGINE = ReplacingMergeTree(updated_at, deleted)
ORDER BY (site, id);

CREATE TABLE IF NOT EXISTS audience.funnels
(
    site String,
    id String,
    name String,
    steps Array(String),
    within LowCardinality(String),
    created_by String,
    created_at DateTime64(3, 'UTC'),
    updated_at DateTime64(3, 'UTC'),
    deleted UInt8
)
ENGINE = ReplacingMergeTree(updated_at, deleted)
ORDER BY (site, id);
