-- Daily rollups, fed from the hourly ones: a long period reads whole UTC days here and only its
-- edge hours from the hourly tables, so a 30-day query merges 30 visitor states, not 720.
CREATE TABLE IF NOT EXISTS audience.traffic_daily AS audience.traffic_hourly
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (site, dimension, hour, value)
SETTINGS ttl_only_drop_parts = 1, index_granularity = 256;  -- big states: read few per granule

CREATE MATERIALIZED VIEW IF NOT EXISTS audience.traffic_daily_mv TO audience.traffic_daily AS
SELECT
    site, dimension, value,
    toStartOfDay(hourly) AS hour,
    uniqCombinedMergeState(15)(hourly_visitors) AS visitors,
    sum(hourly_pageviews) AS pageviews,
    max(hourly_country) AS country
FROM
(
    SELECT site, dimension, value, hour AS hourly, visitors AS hourly_visitors,
           pageviews AS hourly_pageviews, country AS hourly_country
    FROM audience.traffic_hourly
)
GROUP BY site, dimension, value, hour;

CREATE TABLE IF NOT EXISTS audience.visits_daily AS audience.visits_hourly
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (site, dimension, hour, key)
SETTINGS ttl_only_drop_parts = 1, index_granularity = 256;  -- big states: read few per granule

CREATE MATERIALIZED VIEW IF NOT EXISTS audience.visits_daily_mv TO audience.visits_daily AS
SELECT
    site, dimension, key,
    toStartOfDay(hourly) AS hour,
    max(hourly_value) AS value,
    sum(hourly_visits) AS visits,
    sum(hourly_bounces) AS bounces,
    sum(hourly_duration) AS duration,
    uniqCombinedMergeState(15)(hourly_visitors) AS visitors
FROM
(
    SELECT site, dimension, key, hour AS hourly, value AS hourly_value, visits AS hourly_visits,
           bounces AS hourly_bounces, duration AS hourly_duration, visitors AS hourly_visitors
    FROM audience.visits_hourly
)
GROUP BY site, dimension, key, hour;

-- The days already in the hourly rollups (a store migrated from 005).
INSERT INTO audience.traffic_daily
SELECT
    site, dimension, value,
    toStartOfDay(hourly) AS hour,
    uniqCombinedMergeState(15)(hourly_visitors) AS visitors,
    sum(hourly_pageviews) AS pageviews,
    max(hourly_country) AS country
FROM
(
    SELECT site, dimension, value, hour AS hourly, visitors AS hourly_visitors,
           pageviews AS hourly_pageviews, country AS hourly_country
    FROM audience.traffic_hourly
)
GROUP BY site, dimension, value, hour;

INSERT INTO audience.visits_daily
SELECT
    site, dimension, key,
    toStartOfDay(hourly) AS hour,
    max(hourly_value) AS value,
    sum(hourly_visits) AS visits,
    sum(hourly_bounces) AS bounces,
    sum(hourly_duration) AS duration,
    uniqCombinedMergeState(15)(hourly_visitors) AS visitors
FROM
(
    SELECT site, dimension, key, hour AS hourly, value AS hourly_value, visits AS hourly_visits,
           bounces AS hourly_bounces, duration AS hourly_duration, visitors AS hourly_visitors
    FROM audience.visits_hourly
)
GROUP BY site, dimension, key, hour;
