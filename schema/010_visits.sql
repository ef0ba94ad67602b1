-- Visits as sets of events (DESIGN section 5). A visit is every event of one `visit` id; its
-- metrics are functions of that set: start = min(ts), end = max(ts), duration = end - start,
-- pageviews, bounce = exactly one pageview, entry and exit pages = the paths of its first and last
-- pageviews by (ts, path), and each of the visit's number, days since the last visit and
-- dimensions = its value on the visit's first event (a tie on the second: the smallest value).
-- One state per dimension, so that a breakdown merges only the one it shows. Any order of arrival, a duplicate, a state forked by
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
    visit_number AggregateFunction(argMin, UInt32, Tuple(DateTime('UTC'), UInt32)),
    days_since_last_visit AggregateFunction(argMin, UInt16, Tuple(DateTime('UTC'), UInt16)),
    city AggregateFunction(argMin, String, Tuple(DateTime('UTC'), String)),
    country AggregateFunction(argMin, String, Tuple(DateTime('UTC'), String)),
    operator AggregateFunction(argMin, String, Tuple(DateTime('UTC'), String)),
    browser AggregateFunction(argMin, String, Tuple(DateTime('UTC'), String)),
    browser_release AggregateFunction(argMin, String, Tuple(DateTime('UTC'), String)),
    os AggregateFunction(argMin, String, Tuple(DateTime('UTC'), String)),
    device AggregateFunction(argMin, String, Tuple(DateTime('UTC'), String))
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
    argMinState(event_visit_number, (ts, event_visit_number)) AS visit_number,
    argMinState(event_days, (ts, event_days)) AS days_since_last_visit,
    argMinState(event_city, (ts, event_city)) AS city,
    argMinState(event_country, (ts, event_country)) AS country,
    argMinState(event_operator, (ts, event_operator)) AS operator,
    argMinState(event_browser, (ts, event_browser)) AS browser,
    argMinState(event_release, (ts, event_release)) AS browser_release,
    argMinState(event_os, (ts, event_os)) AS os,
    argMinState(event_device, (ts, event_device)) AS device
FROM
(
    SELECT
        site, ts, type, path, visit, visitor,
        visit_number AS event_visit_number, days_since_last_visit AS event_days,
        CAST(city AS String) AS event_city, CAST(country AS String) AS event_country,
        CAST(operator AS String) AS event_operator, CAST(browser AS String) AS event_browser,
        concat(browser, ' ', browser_version) AS event_release, CAST(os AS String) AS event_os,
        CAST(device AS String) AS event_device
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
    argMinState(event_visit_number, (ts, event_visit_number)) AS visit_number,
    argMinState(event_days, (ts, event_days)) AS days_since_last_visit,
    argMinState(event_city, (ts, event_city)) AS city,
    argMinState(event_country, (ts, event_country)) AS country,
    argMinState(event_operator, (ts, event_operator)) AS operator,
    argMinState(event_browser, (ts, event_browser)) AS browser,
    argMinState(event_release, (ts, event_release)) AS browser_release,
    argMinState(event_os, (ts, event_os)) AS os,
    argMinState(event_device, (ts, event_device)) AS device
FROM
(
    SELECT
        site, ts, type, path, visit, visitor,
        visit_number AS event_visit_number, days_since_last_visit AS event_days,
        CAST(city AS String) AS event_city, CAST(country AS String) AS event_country,
        CAST(operator AS String) AS event_operator, CAST(browser AS String) AS event_browser,
        concat(browser, ' ', browser_version) AS event_release, CAST(os AS String) AS event_os,
        CAST(device AS String) AS event_device
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
