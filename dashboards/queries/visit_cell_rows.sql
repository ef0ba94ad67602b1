-- Visits per breakdown and value of the visit dimensions {visit_dimensions} (columns of
-- visits_started, the rollups' dimensions, and 'page': each page a visit showed), on the rollup
-- path: the rolled-up ones and the open ones, in rows to sum by breakdown and value. A row's
-- `breakdown` is the name {visit_breakdowns} gives its dimension (in the same order). The entry,
-- exit and page cells carry the visits' engaged time on their page; the page cells its pageviews
-- in the visits and the exits from it. Included where a query says /* include visit_cell_rows */.
(
    SELECT
        transform(
            dimension, {visit_dimensions:Array(String)}, {visit_breakdowns:Array(String)}, ''
        ) AS breakdown,
        value, visits, bounces, duration, engaged, page_pageviews, exits, page_time, page_times,
        visitors
    FROM /* include rolled_up_visits */
    UNION ALL
    SELECT
        transform(
            pair.1, {visit_dimensions:Array(String)}, {visit_breakdowns:Array(String)}, ''
        ) AS breakdown,
        pair.2 AS value,
        count() AS visits,
        countIf(visit_pageviews = 1) AS bounces,
        toUInt64(sum(duration)) AS duration,
        countIf(engaged) AS engaged,
        toUInt64(0) AS page_pageviews,
        toUInt64(0) AS exits,
        sum(pair.3) AS page_time,
        quantileExactInclusiveStateIf(0.5)(pair.3, pair.4) AS page_times,
        uniqCombinedState(15)(visitor) AS visitors
    FROM /* include visits_started */
    -- Every visit dimension of audience.visit_summaries (collector.closed_visits.DIMENSIONS).
    ARRAY JOIN [
        ('entry_page', entry_page, entry_time, 1), ('exit_page', exit_page, exit_time, 1),
        ('visitor_type', visitor_type, 0, 0), ('visit_bucket', visit_bucket, 0, 0),
        ('days_bucket', days_bucket, 0, 0), ('city', city, 0, 0), ('country', country, 0, 0),
        ('operator', operator, 0, 0), ('browser', browser, 0, 0),
        ('browser_release', browser_release, 0, 0), ('os', os, 0, 0), ('device', device, 0, 0)
    ] AS pair
    WHERE has({visit_dimensions:Array(String)}, pair.1)
    GROUP BY breakdown, value
    UNION ALL
    SELECT
        transform('page', {visit_dimensions:Array(String)}, {visit_breakdowns:Array(String)}, '')
            AS breakdown,
        path AS value,
        count() AS visits,
        countIf(visit_pageviews = 1) AS bounces,
        toUInt64(sum(duration)) AS duration,
        countIf(engaged) AS engaged,
        sum(views_on_page) AS page_pageviews,
        countIf(exit_page = path) AS exits,
        sum(time_on_page) AS page_time,
        quantileExactInclusiveState(0.5)(time_on_page) AS page_times,
        uniqCombinedState(15)(visitor) AS visitors
    FROM /* include visits_started */
    ARRAY JOIN shown_paths AS path, shown_views AS views_on_page, shown_times AS time_on_page
    WHERE has({visit_dimensions:Array(String)}, 'page')
    GROUP BY breakdown, value
)
