-- The team, run from the browser (dashboards/team.py). Nothing here is about a visitor.

-- API keys: the sites a key may read ([]: every site of its user) and when it stops working
-- (the epoch: never).
ALTER TABLE audience.api_keys ADD COLUMN IF NOT EXISTS sites Array(String) DEFAULT [];
ALTER TABLE audience.api_keys ADD COLUMN IF NOT EXISTS expires_at DateTime64(3, 'UTC') DEFAULT 0;

-- When a key was last used: written at most once a minute per key and process.
CREATE TABLE IF NOT EXISTS audience.api_key_uses
(
    id String,
    used_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(used_at)
ORDER BY id;

-- Invitations: only a SHA-256 of the link's secret is kept. Accepting or revoking one inserts a
-- version marked deleted; an invitation past expires_at is refused.
CREATE TABLE IF NOT EXISTS audience.invitations
(
    digest String,
    email String,
    role LowCardinality(String),
    sites Array(String),
    invited_by String,
    created_at DateTime64(3, 'UTC'),
    expires_at DateTime64(3, 'UTC'),
    updated_at DateTime64(3, 'UTC'),
    deleted UInt8
)
ENGINE = ReplacingMergeTree(updated_at, deleted)
ORDER BY digest
TTL toDateTime(expires_at) + INTERVAL 30 DAY DELETE;

-- Recovery codes of a second factor: a keyed hash of each, shown once; a used code (or a new
-- set) inserts a version marked deleted.
CREATE TABLE IF NOT EXISTS audience.recovery_codes
(
    email String,
    digest String,
    updated_at DateTime64(3, 'UTC'),
    deleted UInt8
)
ENGINE = ReplacingMergeTree(updated_at, deleted)
ORDER BY (email, digest);
