-- Visits per breakdown and value of the visit dimensions {visit_dimensions} (columns of
-- visits_started, the rollups' dimensions), on the rollup path: the rolled-up ones and the open
-- ones, in rows to sum by breakdown and value. A row's `breakdown` is the name {visit_breakdowns}
-- gives its dimension (in the same order). Included where a query says /* include visit_cell_rows */.
(
    SELECT
        transform(
            dimension, {visit_dimensions:Array(String)}, {visit_breakdowns:Array(String)}, ''
        ) AS breakdown,
        value, visits, bounces, duration, visitors
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
        uniqCombinedState(15)(visitor) AS visitors
    FROM /* include visits_started */
    -- Every visit dimension of audience.visit_summaries (collector.closed_visits.DIMENSIONS).
    ARRAY JOIN [
        ('entry_page', entry_page), ('exit_page', exit_page), ('visitor_type', visitor_type),
        ('visit_bucket', visit_bucket), ('days_bucket', days_bucket), ('city', city),
        ('country', country), ('operator', operator), ('browser', browser),
        ('browser_release', browser_release), ('os', os), ('device', device)
    ] AS pair
    WHERE has({visit_dimensions:Array(String)}, pair.1)
    GROUP BY breakdown, value
)
