-- A visit as one row (DESIGN section 5), and the rollups of closed visits.
--
-- audience.visit_summaries(site, rows_from, rows_to, listed_from, listed_to): the visits of a site
-- merged from their rows of audience.visits (010) placed in [rows_from, rows_to), one row each,
-- with its metrics, its first-event dimensions and their labels; but those listed in
-- audience.closed_visits for an hour in [listed_from, listed_to) (an empty span lists none): a
-- visit rolled up already may have rows past the watermark, which must not count it again. The one definition of a visit's numbers: the
-- dashboards read it for the visits still open, and the owner's writer (collector.closed_visits)
-- rolls the closed ones up from it. A visit is kept whatever its pageviews: readers keep those
-- with at least one (a group of engagement events alone is not a visit).
CREATE VIEW IF NOT EXISTS audience.visit_summaries AS
SELECT
    visit, visitor, visit_start, visit_end, duration, visit_pageviews, entry_page, exit_page,
    first_visit_number AS visit_number, first_days AS days_since_last_visit,
    first_city AS city, first_country AS country, first_operator AS operator,
    first_browser AS browser, first_release AS browser_release, first_os AS os,
    first_device AS device,
    if(first_visit_number = 1, 'new', 'returning') AS visitor_type,
    multiIf(first_visit_number = 1, '1', first_visit_number = 2, '2', first_visit_number = 3, '3',
            first_visit_number <= 7, '4-7', first_visit_number <= 14, '8-14', '15+') AS visit_bucket,
    multiIf(first_visit_number = 1, 'first visit', first_days = 0, 'same day',
            first_days = 1, '1 day', first_days <= 7, '2-7 days', first_days <= 30, '8-30 days',
            first_days <= 90, '31-90 days', 'over 90 days') AS days_bucket
FROM
(
    SELECT
        visit,
        any(visitor) AS visitor,
        min(start) AS visit_start,
        max(end) AS visit_end,
        dateDiff('second', min(start), max(end)) AS duration,
        sum(pageviews) AS visit_pageviews,
        argMinIfMerge(entry) AS entry_page,
        argMaxIfMerge(exit) AS exit_page,
        argMinMerge(visit_number) AS first_visit_number,
        argMinMerge(days_since_last_visit) AS first_days,
        argMinMerge(city) AS first_city,
        argMinMerge(country) AS first_country,
        argMinMerge(operator) AS first_operator,
        argMinMerge(browser) AS first_browser,
        argMinMerge(browser_release) AS first_release,
        argMinMerge(os) AS first_os,
        argMinMerge(device) AS first_device
    FROM audience.visits
    WHERE site = {site:String}
      AND hour >= {rows_from:DateTime('UTC')} AND hour < {rows_to:DateTime('UTC')}
      AND visit NOT IN (
          SELECT visit FROM audience.closed_visits
          WHERE site = {site:String}
            AND hour >= {listed_from:DateTime('UTC')} AND hour < {listed_to:DateTime('UTC')})
    GROUP BY visit
);

-- The closed visits (idle for longer than the visit timeout and a margin, collector.closed_visits)
-- of each hour they started in, per value of each visit dimension ('' for all of them): their
-- number, bounces, summed durations and visitors. Written by the store owner's writer, a whole
-- hour of a site at once, for the hours before the watermark; an hour whose visits changed after
-- (late events, an erasure) is written again. The dashboards read these hours here, the later ones
-- from audience.visit_summaries.
CREATE TABLE IF NOT EXISTS audience.visit_rollup
(
    site LowCardinality(String),
    hour DateTime('UTC'),
    dimension LowCardinality(String),
    value String,
    visits UInt64,
    bounces UInt64,
    duration UInt64,
    visitors AggregateFunction(uniqCombined(15), UInt64)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (site, dimension, hour, value)
SETTINGS ttl_only_drop_parts = 1;

-- The closed visits themselves, by the hour they started in: the visits per visitor of a period,
-- and which visits the rollups hold (a visit still open may have rows in an hour before the
-- watermark: the dashboards' open part leaves out the visits listed here).
CREATE TABLE IF NOT EXISTS audience.closed_visits
(
    site LowCardinality(String),
    hour DateTime('UTC'),
    visit UInt64,
    visitor UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (site, hour, visit)
SETTINGS ttl_only_drop_parts = 1;

-- The watermark: every closed visit that started before `through` is in the rollups, once. It
-- only moves forward; the newest row holds.
CREATE TABLE IF NOT EXISTS audience.visit_rollup_through
(
    through DateTime('UTC'),
    written DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY through;

-- Hours of events stored late (after their visit may have been rolled up) or erased: the rollup
-- hours of the visits that may hold them are written again, then the mark goes.
CREATE TABLE IF NOT EXISTS audience.visit_rollup_stale
(
    site LowCardinality(String),
    hour DateTime('UTC'),
    marked DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (site, hour);
