-- Visits as sets of events (DESIGN section 5). A visit is every event of one `visit` id; its
-- metrics are functions of that set: start = min(ts), end = max(ts), duration = end - start,
-- pageviews, bounce = exactly one pageview, entry and exit pages = the paths of its first and last
-- pageviews by (ts, path), and the visit's number, days since the last visit and dimensions =
-- those of its first event by (ts, values). Any order of arrival, a duplicate, a state forked by
-- parallel tabs or left behind by a lost answer gives the same numbers. A group of engagement
-- events without a pageview is not a visit.
--
-- One row per visit and insert block, merged by (site, hour, visit); every read merges the rows
-- of a visit (GROUP BY visit), which may lie in several hours or parts. `hour` is the hour of the
-- block's first event of the visit: it only places the row. `visitor` (the keyed hash of
-- audience.events) lets an erasure delete the visitor's visits.
CREATE TABLE IF NOT EXISTS audience.visits
(
    site LowCardinality(String),
    hour DateTime('UTC'),
    visit UInt64,
    visitor SimpleAggregateFunction(any, UInt64),
    start SimpleAggregateFunction(min, DateTime('UTC')),
    end SimpleAggregateFunction(max, DateTime('UTC')),
    pageviews SimpleAggregateFunction(sum, UInt64),
    entry AggregateFunction(argMinIf, String, Tuple(DateTime('UTC'), String), UInt8),
    exit AggregateFunction(argMaxIf, String, Tuple(DateTime('UTC'), String), UInt8),
    first AggregateFunction(
        argMin,
        Tuple(UInt32, UInt16, String, String, String, String, String, String, String),
        Tuple(DateTime('UTC'), Tuple(UInt32, UInt16, String, String, String, String, String, String, String))
    )
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (site, hour, visit)
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS audience.visits_mv TO audience.visits AS
SELECT
    site,
    toStartOfHour(min(ts)) AS hour,
    visit,
    any(visitor) AS visitor,
    min(ts) AS start,
    max(ts) AS end,
    toUInt64(countIf(type = 'pageview')) AS pageviews,
    argMinIfState(path, (ts, path), type = 'pageview') AS entry,
    argMaxIfState(path, (ts, path), type = 'pageview') AS exit,
    argMinState(first_values, (ts, first_values)) AS first
FROM
(
    SELECT
        site, ts, type, path, visit, visitor,
        tuple(visit_number, days_since_last_visit, CAST(city AS String), CAST(country AS String),
              CAST(operator AS String), CAST(browser AS String), CAST(browser_version AS String),
              CAST(os AS String), CAST(device AS String)) AS first_values
    FROM audience.events
)
GROUP BY site, visit;

-- The visits of the events stored so far, while the view sees the new ones.
INSERT INTO audience.visits
SELECT
    site,
    toStartOfHour(min(ts)) AS hour,
    visit,
    any(visitor) AS visitor,
    min(ts) AS start,
    max(ts) AS end,
    toUInt64(countIf(type = 'pageview')) AS pageviews,
    argMinIfState(path, (ts, path), type = 'pageview') AS entry,
    argMaxIfState(path, (ts, path), type = 'pageview') AS exit,
    argMinState(first_values, (ts, first_values)) AS first
FROM
(
    SELECT
        site, ts, type, path, visit, visitor,
        tuple(visit_number, days_since_last_visit, CAST(city AS String), CAST(country AS String),
              CAST(operator AS String), CAST(browser AS String), CAST(browser_version AS String),
              CAST(os AS String), CAST(device AS String)) AS first_values
    FROM audience.events
)
GROUP BY site, visit;

-- The visit steps and their sums, which a forked or lost state made wrong, go.
DROP VIEW IF EXISTS audience.visits_daily_mv;
DROP VIEW IF EXISTS audience.visits_hourly_mv;
DROP TABLE IF EXISTS audience.visits_daily;
DROP TABLE IF EXISTS audience.visits_hourly;
ALTER TABLE audience.events DROP COLUMN IF EXISTS bounce;
ALTER TABLE audience.events
    DROP COLUMN IF EXISTS previous_page,
    DROP COLUMN IF EXISTS pageview_number,
    DROP COLUMN IF EXISTS since_previous,
    DROP COLUMN IF EXISTS event_number,
    DROP COLUMN IF EXISTS visit_start;
-- The visit's buckets are labels of its first event now (dashboards/queries/visit_dimensions.sql).
ALTER TABLE audience.events DROP COLUMN IF EXISTS visit_bucket, DROP COLUMN IF EXISTS days_bucket;
