-- One row per value of an event dimension, from the traffic rollups (whole UTC days from the
-- daily ones, the period's edge hours from the hourly ones): visitors and pageviews by the events'
-- own value; visits, bounces and duration by the value of each visit's first event
-- (visit_cells). Rows with fewer than min_cell visitors fold into one "Other" row.
SELECT
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
        value,
        visitor_state,
        finalizeAggregation(visitor_state) < {min_cell:UInt32} AS folds,
        cell_pageviews, cell_visits, cell_bounces, cell_duration, cell_country
    FROM
    (
        SELECT
            value,
            uniqCombinedMergeState(15)(visitors) AS visitor_state,
            sum(pageviews) AS cell_pageviews,
            max(country) AS cell_country
        FROM /* include traffic_rollup */
        WHERE site = {site:String} AND dimension = {dimension:String}
          AND hour >= {start:DateTime('UTC')} AND hour < {end:DateTime('UTC')}
        GROUP BY value
    ) AS traffic
    FULL OUTER JOIN /* include visit_cells */ AS visit_cells USING (value)
)
GROUP BY value, other
