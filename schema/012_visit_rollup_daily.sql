-- The closed visits' rollups of whole UTC days: audience.visit_rollup summed per day, for the days
-- whose every hour is before the watermark. A long period reads its whole days here and only its
-- edge hours from audience.visit_rollup, so a 30-day breakdown merges 30 visitor states per value,
-- not 720. Written by the same writer (collector.closed_visits) when the watermark passes the end
-- of a day, and again with the hours under it that are written again.
CREATE TABLE IF NOT EXISTS audience.visit_rollup_daily AS audience.visit_rollup
ENGINE = MergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (site, dimension, hour, value)
SETTINGS ttl_only_drop_parts = 1, index_granularity = 256;  -- big states: read few per granule

-- The whole days rolled up already (a store migrated from 011).
INSERT INTO audience.visit_rollup_daily
SELECT
    site,
    toStartOfDay(hourly) AS day,
    dimension, value,
    sum(hourly_visits) AS visits,
    sum(hourly_bounces) AS bounces,
    sum(hourly_duration) AS duration,
    uniqCombinedMergeState(15)(hourly_visitors) AS visitors
FROM
(
    SELECT site, hour AS hourly, dimension, value, visits AS hourly_visits,
           bounces AS hourly_bounces, duration AS hourly_duration, visitors AS hourly_visitors
    FROM audience.visit_rollup
)
WHERE day + INTERVAL 1 DAY <= (SELECT max(through) FROM audience.visit_rollup_through)
GROUP BY site, day, dimension, value;
