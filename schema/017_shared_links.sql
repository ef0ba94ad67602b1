-- Shared links of a site's dashboard (dashboards/shared_links.py): only a SHA-256 of the link's
-- secret is kept; a password, as an Argon2id hash; the filters the link locks, as JSON; when it
-- stops working (the epoch: never).
-- Revoking one inserts a version marked deleted.
CREATE TABLE IF NOT EXISTS audience.shared_links
(
    digest String,
    site String,
    name String,
    filters String,
    password_hash String,
    created_by String,
    created_at DateTime64(3, 'UTC'),
    expires_at DateTime64(3, 'UTC') DEFAULT 0,
    updated_at DateTime64(3, 'UTC'),
    deleted UInt8
)
ENGINE = ReplacingMergeTree(updated_at, deleted)
ORDER BY digest;
