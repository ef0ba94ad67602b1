-- Annotations (dashboards/annotations.py): dated notes on a site's time series, written by its
-- team. ``day`` is a date of the site's time zone; ``author`` the e-mail of the member who wrote
-- the note (team data: nothing here is about a visitor); ``shared`` whether shared links show it.
-- Removing one inserts a version marked deleted.
CREATE TABLE IF NOT EXISTS audience.annotations
(
    id String,
    site String,
    day Date,
    text String,
    author String,
    shared UInt8,
    created_at DateTime64(3, 'UTC'),
    updated_at DateTime64(3, 'UTC'),
    deleted UInt8
)
ENGINE = ReplacingMergeTree(updated_at, deleted)
ORDER BY (site, id);
