-- One row per breakdown and value of the event dimensions {breakdowns} (the traffic rollups'
-- dimensions), from the rollups (whole UTC days from the daily ones, the period's edge hours from
-- the hourly ones): visitors and pageviews by the events' own value; visits, bounces and duration
-- by the value of each visit's first event (visit_cell_rows, for the visit dimensions
-- {visit_dimensions} of the breakdowns that show visit metrics). Rows with fewer than min_cell
-- visitors fold into one "Other" row of their breakdown.
SELECT
    breakdown,
    if(folds, '', value) AS value,
    folds AS other,
    uniqCombinedMerge(15)(visitor_state) AS visitors,
    sum(cell_pageviews) AS pageviews,
    sum(cell_visits) AS visits,
    sum(cell_bounces) AS bounces,
    sum(cell_duration) AS duration,
    max(cell_country) AS country
FROM
(
    SELECT
        breakdown,
        value,
        visitor_state,
        finalizeAggregation(visitor_state) < {min_cell:UInt32} AS folds,
        cell_pageviews, cell_visits, cell_bounces, cell_duration, cell_country
    FROM
    (
        SELECT
            dimension AS breakdown,
            value,
            uniqCombinedMergeState(15)(visitors) AS visitor_state,
            sum(pageviews) AS cell_pageviews,
            max(country) AS cell_country
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
            sum(duration) AS cell_duration
        FROM /* include visit_cell_rows */
        GROUP BY breakdown, value
    ) AS visit_cells USING (breakdown, value)
)
GROUP BY breakdown, value, other
