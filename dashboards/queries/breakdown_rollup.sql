-- One row per breakdown and value of the event dimensions {breakdowns} (the traffic rollups'
-- dimensions), from the rollups (whole UTC days from the daily ones, the period's edge hours from
-- the hourly ones): visitors and pageviews by the events' own value; visits, bounces, duration
-- and engaged visits by the value of each visit's first event, or for the pages by each page the
-- visit showed, with the pages' time and exits (visit_cell_rows, for the visit dimensions
-- {visit_dimensions} of the breakdowns that show visit metrics). A row needs the value's traffic
-- (a page viewed only after the period by a visit started in it has none). Rows with fewer than
-- min_cell visitors fold into one "Other" row of their breakdown.
SELECT
    breakdown,
    if(folds, '', value) AS value,
    folds AS other,
    uniqCombinedMerge(15)(visitor_state) AS visitors,
    sum(cell_pageviews) AS pageviews,
    sum(cell_visits) AS visits,
    sum(cell_bounces) AS bounces,
    sum(cell_duration) AS duration,
    sum(cell_engaged) AS engaged,
    sum(cell_page_pageviews) AS page_pageviews,
    sum(cell_exits) AS exits,
    sum(cell_page_time) AS page_time,
    quantileExactInclusiveMerge(0.5)(cell_page_times) AS median_page_time,
    max(cell_country) AS country
FROM
(
    SELECT
        breakdown,
        value,
        visitor_state,
        finalizeAggregation(visitor_state) < {min_cell:UInt32} AS folds,
        cell_pageviews, cell_visits, cell_bounces, cell_duration, cell_engaged,
        cell_page_pageviews, cell_exits, cell_page_time, cell_page_times, cell_country
    FROM
    (
        SELECT
            dimension AS breakdown,
            value,
            uniqCombinedMergeState(15)(visitors) AS visitor_state,
            sum(pageviews) AS cell_pageviews,
            max(country) AS cell_country,
            1 AS in_traffic
        FROM /* include traffic_rollup */
        WHERE site = {site:String} AND dimension IN {breakdowns:Array(String)}
          AND hour >= {start:DateTime('UTC')} AND hour < {end:DateTime('UTC')}
        GROUP BY breakdown, value
    ) AS traffic
    FULL OUTER JOIN
    (
        SELECT
            breakdown,
            value,
            sum(visits) AS cell_visits,
            sum(bounces) AS cell_bounces,
            sum(duration) AS cell_duration,
            sum(engaged) AS cell_engaged,
            sum(page_pageviews) AS cell_page_pageviews,
            sum(exits) AS cell_exits,
            sum(page_time) AS cell_page_time,
            quantileExactInclusiveMergeState(0.5)(page_times) AS cell_page_times
        FROM /* include visit_cell_rows */
        GROUP BY breakdown, value
    ) AS visit_cells USING (breakdown, value)
    WHERE breakdown != 'page' OR in_traffic
)
GROUP BY breakdown, value, other
