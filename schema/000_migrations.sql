-- The database and the record of applied migrations; run before every migrate.
CREATE DATABASE IF NOT EXISTS audience;

CREATE TABLE IF NOT EXISTS audience.schema_migrations
(
    version UInt32,
    name String,
    applied_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree
ORDER BY version;
