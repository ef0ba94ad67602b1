-- Engaged time (README, metrics): the time on page and the engaged visits.
--
-- The engaged time of a page in a visit is the sum of the engaged_ms of the visit's engagement
-- events on that path (the snippet sends the time the page was visible and focused since its last
-- ping); a visit's engaged time is the sum over all its engagement events. Both are functions of
-- the set of the visit's events (DESIGN section 5). A visit is engaged when it has at least two
-- pageviews or at least the site's engaged_seconds of engaged time.

-- The engaged time that makes a visit with one pageview engaged, per site (GA4's default).
ALTER TABLE audience.sites
    ADD COLUMN IF NOT EXISTS engaged_seconds UInt16 DEFAULT 10 AFTER count_outside_gdpr;

-- audience.visits (013) with the visit's engaged time and, per path it showed or was engaged on,
-- its pageviews and engaged time (a map merged by sumMap: keys, pageviews, engaged ms). It is made
-- again from audience.events, so that the engaged time of the stored events counts.
DROP VIEW IF EXISTS audience.visit_summaries;
DROP VIEW IF EXISTS audience.visits_mv;
DROP TABLE IF EXISTS audience.visits SYNC;

CREATE TABLE IF NOT EXISTS audience.visits
(
    site LowCardinality(String),
    hour DateTime('UTC'),
    visit UInt64,
    visitor SimpleAggregateFunction(any, UInt64),
    start SimpleAggregateFunction(min, DateTime('UTC')),
    end SimpleAggregateFunction(max, DateTime('UTC')),
    pageviews SimpleAggregateFunction(sum, UInt64),
    engaged_ms SimpleAggregateFunction(sum, UInt64),
    pages SimpleAggregateFunction(sumMap, Tuple(Array(String), Array(UInt64), Array(UInt64))),
    entry SimpleAggregateFunction(min, Tuple(DateTime('UTC'), String)),
    exit SimpleAggregateFunction(max, Tuple(DateTime('UTC'), String)),
    visit_number SimpleAggregateFunction(min, Tuple(DateTime('UTC'), UInt32)),
    days_since_last_visit SimpleAggregateFunction(min, Tuple(DateTime('UTC'), UInt16)),
    city SimpleAggregateFunction(min, Tuple(DateTime('UTC'), String)),
    country SimpleAggregateFunction(min, Tuple(DateTime('UTC'), String)),
    operator SimpleAggregateFunction(min, Tuple(DateTime('UTC'), String)),
    browser SimpleAggregateFunction(min, Tuple(DateTime('UTC'), String)),
    browser_release SimpleAggregateFunction(min, Tuple(DateTime('UTC'), String)),
    os SimpleAggregateFunction(min, Tuple(DateTime('UTC'), String)),
    device SimpleAggregateFunction(min, Tuple(DateTime('UTC'), String))
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
    toUInt64(sum(event_engaged)) AS engaged_ms,
    sumMap(([path], [toUInt64(type = 'pageview')], [event_engaged])) AS pages,
    min(if(type = 'pageview', (ts, path), (toDateTime(4294967295, 'UTC'), ''))) AS entry,
    max(if(type = 'pageview', (ts, path), (toDateTime(0, 'UTC'), ''))) AS exit,
    min((ts, event_visit_number)) AS visit_number,
    min((ts, event_days)) AS days_since_last_visit,
    min((ts, event_city)) AS city,
    min((ts, event_country)) AS country,
    min((ts, event_operator)) AS operator,
    min((ts, event_browser)) AS browser,
    min((ts, event_release)) AS browser_release,
    min((ts, event_os)) AS os,
    min((ts, event_device)) AS device
FROM
(
    SELECT
        site, ts, type, path, visit, visitor,
        toUInt64(if(type = 'engagement', engaged_ms, 0)) AS event_engaged,
        visit_number AS event_visit_number, days_since_last_visit AS event_days,
        CAST(city AS String) AS event_city, CAST(country AS String) AS event_country,
        CAST(operator AS String) AS event_operator, CAST(browser AS String) AS event_browser,
        concat(browser, ' ', browser_version) AS event_release, CAST(os AS String) AS event_os,
        CAST(device AS String) AS event_device
    FROM audience.events
)
GROUP BY site, visit;

INSERT INTO audience.visits
SELECT
    site,
    toStartOfHour(min(ts)) AS hour,
    visit,
    any(visitor) AS visitor,
    min(ts) AS start,
    max(ts) AS end,
    toUInt64(countIf(type = 'pageview')) AS pageviews,
    toUInt64(sum(event_engaged)) AS engaged_ms,
    sumMap(([path], [toUInt64(type = 'pageview')], [event_engaged])) AS pages,
    min(if(type = 'pageview', (ts, path), (toDateTime(4294967295, 'UTC'), ''))) AS entry,
    max(if(type = 'pageview', (ts, path), (toDateTime(0, 'UTC'), ''))) AS exit,
    min((ts, event_visit_number)) AS visit_number,
    min((ts, event_days)) AS days_since_last_visit,
    min((ts, event_city)) AS city,
    min((ts, event_country)) AS country,
    min((ts, event_operator)) AS operator,
    min((ts, event_browser)) AS browser,
    min((ts, event_release)) AS browser_release,
    min((ts, event_os)) AS os,
    min((ts, event_device)) AS device
FROM
(
    SELECT
        site, ts, type, path, visit, visitor,
        toUInt64(if(type = 'engagement', engaged_ms, 0)) AS event_engaged,
        visit_number AS event_visit_number, days_since_last_visit AS event_days,
        CAST(city AS String) AS event_city, CAST(country AS String) AS event_country,
        CAST(operator AS String) AS event_operator, CAST(browser AS String) AS event_browser,
        concat(browser, ' ', browser_version) AS event_release, CAST(os AS String) AS event_os,
        CAST(device AS String) AS event_device
    FROM audience.events
)
GROUP BY site, visit;

-- audience.visit_summaries as in 013, with the visit's engaged time (engaged_ms), its pages (the
-- paths it showed, each with its pageviews and engaged ms) and the engaged ms of its entry and
-- exit pages (entry_time, exit_time; 0 when the page had no engagement event).
CREATE VIEW IF NOT EXISTS audience.visit_summaries AS
SELECT
    visit, visitor, visit_start, visit_end, duration, visit_pageviews, engaged_ms,
    arrayFilter((path, shown) -> shown > 0, visit_pages.1, visit_pages.2) AS shown_paths,
    arrayFilter((views, shown) -> shown > 0, visit_pages.2, visit_pages.2) AS shown_views,
    arrayFilter((ms, shown) -> shown > 0, visit_pages.3, visit_pages.2) AS shown_times,
    entry_page, exit_page,
    visit_pages.3[indexOf(visit_pages.1, entry_page)] AS entry_time,
    visit_pages.3[indexOf(visit_pages.1, exit_page)] AS exit_time,
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
        sum(engaged_ms) AS engaged_ms,
        sumMap(pages) AS visit_pages,
        min(entry).2 AS entry_page,
        max(exit).2 AS exit_page,
        min(visit_number).2 AS first_visit_number,
        min(days_since_last_visit).2 AS first_days,
        min(city).2 AS first_city,
        min(country).2 AS first_country,
        min(operator).2 AS first_operator,
        min(browser).2 AS first_browser,
        min(browser_release).2 AS first_release,
        min(os).2 AS first_os,
        min(device).2 AS first_device
    FROM audience.visits
    WHERE site = {site:String}
      AND hour >= {rows_from:DateTime('UTC')} AND hour < {rows_to:DateTime('UTC')}
      AND visit NOT IN (
          SELECT visit FROM audience.closed_visits
          WHERE site = {site:String}
            AND hour >= {listed_from:DateTime('UTC')} AND hour < {listed_to:DateTime('UTC')})
    GROUP BY visit
);

-- The closed visits' rollups gain, per cell: engaged visits; for the cells of a page (dimension
-- 'page': the visits that showed it; 'entry_page', 'exit_page': the visits that entered or left
-- on it) the pageviews of the page and the exits from it (dimension 'page' only), the summed
-- engaged ms on the page and the state of their median (exact: every visit's time is kept).
ALTER TABLE audience.visit_rollup
    ADD COLUMN IF NOT EXISTS engaged UInt64 AFTER duration,
    ADD COLUMN IF NOT EXISTS page_pageviews UInt64 AFTER engaged,
    ADD COLUMN IF NOT EXISTS exits UInt64 AFTER page_pageviews,
    ADD COLUMN IF NOT EXISTS page_time UInt64 AFTER exits,
    ADD COLUMN IF NOT EXISTS page_times AggregateFunction(quantileExactInclusive(0.5), UInt64)
        AFTER page_time;
ALTER TABLE audience.visit_rollup_daily
    ADD COLUMN IF NOT EXISTS engaged UInt64 AFTER duration,
    ADD COLUMN IF NOT EXISTS page_pageviews UInt64 AFTER engaged,
    ADD COLUMN IF NOT EXISTS exits UInt64 AFTER page_pageviews,
    ADD COLUMN IF NOT EXISTS page_time UInt64 AFTER exits,
    ADD COLUMN IF NOT EXISTS page_times AggregateFunction(quantileExactInclusive(0.5), UInt64)
        AFTER page_time;

-- The rollups written so far have none of these: they go, with the watermark, and the writer
-- (collector.storage.closed_visits) rolls every closed visit up again from its first turn; the
-- dashboards merge the visits from audience.visit_summaries meanwhile.
TRUNCATE TABLE IF EXISTS audience.visit_rollup;
TRUNCATE TABLE IF EXISTS audience.visit_rollup_daily;
TRUNCATE TABLE IF EXISTS audience.closed_visits;
TRUNCATE TABLE IF EXISTS audience.visit_rollup_through;
TRUNCATE TABLE IF EXISTS audience.visit_rollup_stale;
