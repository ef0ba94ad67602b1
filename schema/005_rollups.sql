-- Hourly rollups behind the dashboards, filled by materialized views as events are inserted.
-- audience.events stays the source of truth; the rollups hold no visitor or visit id (only
-- aggregate states), so erasing a visitor's events leaves nothing personal behind here.
-- Each event is counted once per dimension: dimension '' is the site's total. Visitors are
-- uniqCombined(15) states: exact for small counts, then HyperLogLog (error about 0.6 %).

-- Derived labels, defined once for the rollups and the stats queries.
ALTER TABLE audience.events
    ADD COLUMN IF NOT EXISTS browser_release String ALIAS concat(browser, ' ', browser_version),
    ADD COLUMN IF NOT EXISTS visitor_type String ALIAS if(visit_number = 1, 'new', 'returning'),
    ADD COLUMN IF NOT EXISTS visit_bucket String ALIAS multiIf(
        visit_number = 1, '1', visit_number = 2, '2', visit_number = 3, '3',
        visit_number <= 7, '4-7', visit_number <= 14, '8-14', '15+'),
    ADD COLUMN IF NOT EXISTS days_bucket String ALIAS multiIf(
        visit_number = 1, 'first visit', days_since_last_visit = 0, 'same day',
        days_since_last_visit = 1, '1 day', days_since_last_visit <= 7, '2-7 days',
        days_since_last_visit <= 30, '8-30 days', days_since_last_visit <= 90, '31-90 days',
        'over 90 days'),
    ADD COLUMN IF NOT EXISTS bounce Int8 ALIAS toInt8(pageview_number = 1) - toInt8(pageview_number = 2);

-- Event metrics, by the hour of the event.
CREATE TABLE IF NOT EXISTS audience.traffic_hourly
(
    site LowCardinality(String),
    dimension LowCardinality(String),
    value String,
    hour DateTime('UTC'),
    visitors AggregateFunction(uniqCombined(15), UInt64),
    pageviews SimpleAggregateFunction(sum, UInt64),
    country SimpleAggregateFunction(max, LowCardinality(String))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (site, dimension, hour, value)
SETTINGS ttl_only_drop_parts = 1, index_granularity = 256;  -- big states: read few per granule

CREATE MATERIALIZED VIEW IF NOT EXISTS audience.traffic_hourly_mv TO audience.traffic_hourly AS
SELECT
    site,
    pair.1 AS dimension,
    pair.2 AS value,
    toStartOfHour(ts) AS hour,
    uniqCombinedState(15)(visitor) AS visitors,
    toUInt64(countIf(type = 'pageview')) AS pageviews,
    max(event_country) AS country
FROM
(
    SELECT site, ts, type, visitor, country AS event_country, [
        ('', ''), ('page', path), ('city', city), ('country', country), ('operator', operator),
        ('browser', browser), ('browser_version', browser_release), ('os', os),
        ('device', device), ('visitor_type', visitor_type)
    ] AS pairs
    FROM audience.events
)
ARRAY JOIN pairs AS pair
GROUP BY site, dimension, value, hour;

-- Visit metrics, by the hour the visit started. `key` is halfMD5(value): an exit is +1 for the
-- path of a pageview and -1 for its previous_page, which the event knows only as a hash; an
-- entry bounces unless the visit's second pageview (whose previous_page is the entry) comes.
CREATE TABLE IF NOT EXISTS audience.visits_hourly
(
    site LowCardinality(String),
    dimension LowCardinality(String),
    key UInt64,
    hour DateTime('UTC'),
    value SimpleAggregateFunction(max, String),
    visits SimpleAggregateFunction(sum, Int64),
    bounces SimpleAggregateFunction(sum, Int64),
    duration SimpleAggregateFunction(sum, UInt64),
    visitors AggregateFunction(uniqCombined(15), UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (site, dimension, hour, key)
SETTINGS ttl_only_drop_parts = 1, index_granularity = 256;  -- big states: read few per granule

CREATE MATERIALIZED VIEW IF NOT EXISTS audience.visits_hourly_mv TO audience.visits_hourly AS
SELECT
    site,
    part.1 AS dimension,
    part.2 AS key,
    toStartOfHour(visit_start) AS hour,
    max(part.3) AS value,
    sum(part.4) AS visits,
    sum(part.5) AS bounces,
    sum(part.6) AS duration,
    uniqCombinedStateIf(15)(visitor, part.7) AS visitors
FROM
(
    SELECT
        site, visitor, visit_start, path, previous_page,
        toInt64(event_number = 1) AS starts,
        toInt64(bounce) AS visit_bounce,
        toUInt64(since_previous) AS gap,
        arrayConcat(
            arrayMap(
                pair -> (pair.1, halfMD5(pair.2), pair.2, starts, visit_bounce, gap, event_number = 1),
                [
                    ('', ''), ('city', city), ('country', country), ('operator', operator),
                    ('browser', browser), ('browser_version', browser_release), ('os', os),
                    ('device', device), ('visitor_type', visitor_type),
                    ('visit_number', visit_bucket), ('days_since_last_visit', days_bucket)
                ]
            ),
            if(pageview_number = 1,
               [('entry_page', halfMD5(path), path, toInt64(1), toInt64(1), toUInt64(0), true)], []),
            if(pageview_number = 2,
               [('entry_page', previous_page, '', toInt64(0), toInt64(-1), toUInt64(0), false)], []),
            if(type = 'pageview',
               [('exit_page', halfMD5(path), path, toInt64(1), toInt64(0), toUInt64(0), true)], []),
            if(previous_page != 0,
               [('exit_page', previous_page, '', toInt64(-1), toInt64(0), toUInt64(0), false)], [])
        ) AS parts
    FROM audience.events
)
ARRAY JOIN parts AS part
GROUP BY site, dimension, key, hour;
