-- Dashboards accounts. Rows are never updated in place: a change inserts a newer version (the
-- latest updated_at wins under FINAL) and a removal inserts a version marked deleted.
CREATE TABLE IF NOT EXISTS audience.users
(
    email String,
    password_hash String,
    role LowCardinality(String),
    sites Array(String),
    updated_at DateTime64(3, 'UTC'),
    deleted UInt8
)
ENGINE = ReplacingMergeTree(updated_at, deleted)
ORDER BY email;

-- API keys: only a SHA-256 of the key is kept; a key acts with its user's role and sites.
CREATE TABLE IF NOT EXISTS audience.api_keys
(
    id String,
    digest String,
    email String,
    name String,
    created_at DateTime64(3, 'UTC'),
    updated_at DateTime64(3, 'UTC'),
    deleted UInt8
)
ENGINE = ReplacingMergeTree(updated_at, deleted)
ORDER BY id;

-- Sign-outs: every session of the user issued before revoked_before is refused.
CREATE TABLE IF NOT EXISTS audience.session_revocations
(
    email String,
    revoked_before DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(revoked_before)
ORDER BY email;
