-- Visits per breakdown and value of the visit dimensions {visit_dimensions} (columns of
-- visits_started, the rollups' dimensions, and 'page': each page a visit showed), on the rollup
-- path: the rolled-up ones and the open ones, in rows to sum by breakdown and value. A row's
-- `breakdown` is the name {visit_breakdowns} gives its dimension (in the same order). The entry,
-- exit and page cells carry the visits' engaged time on their page; the page cells its pageviews
-- in the visits and the exits from it. The open visits are merged once, for every dimension (as
-- the writer's roll_up_visits does). Included where a query says /* include visit_cell_rows */.
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
            cell.1, {visit_dimensions:Array(String)}, {visit_breakdowns:Array(String)}, ''
        ) AS breakdown,
        cell.2 AS value,
        count() AS visits,
        countIf(visit_pageviews = 1) AS bounces,
        toUInt64(sum(duration)) AS duration,
        countIf(engaged) AS engaged,
        sum(cell.5) AS page_pageviews,
        sum(cell.6) AS exits,
        sum(cell.3) AS page_time,
        quantileExactInclusiveStateIf(0.5)(cell.3, cell.4) AS page_times,
        uniqCombinedState(15)(visitor) AS visitors
    FROM /* include visits_started */
    -- Every visit dimension of audience.visit_summaries (collector.closed_visits.DIMENSIONS), and
    -- the pages when asked: (dimension, value, engaged ms on the page, has a page, pageviews of the
    -- page, exits from it).
    ARRAY JOIN arrayConcat(
        [
            ('entry_page', entry_page, entry_time, 1, 0, 0),
            ('exit_page', exit_page, exit_time, 1, 0, 0),
            ('visitor_type', visitor_type, 0, 0, 0, 0), ('visit_bucket', visit_bucket, 0, 0, 0, 0),
            ('days_bucket', days_bucket, 0, 0, 0, 0), ('city', city, 0, 0, 0, 0),
            ('country', country, 0, 0, 0, 0), ('operator', operator, 0, 0, 0, 0),
            ('browser', browser, 0, 0, 0, 0), ('browser_release', browser_release, 0, 0, 0, 0),
            ('os', os, 0, 0, 0, 0), ('device', device, 0, 0, 0, 0)
        ],
        if(
            has({visit_dimensions:Array(String)}, 'page'),
            arrayMap(
                (path, views, time) -> ('page', path, time, 1, views, path = exit_page),
                shown_paths, shown_views, shown_times
            ),
            []
        )
    ) AS cell
    WHERE has({visit_dimensions:Array(String)}, cell.1)
    GROUP BY breakdown, value
)
