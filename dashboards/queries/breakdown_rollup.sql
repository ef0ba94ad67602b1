-- One row per value of a dimension, from the rollups: whole UTC days from the daily ones, the
-- period's edge hours from the hourly ones: visitors and pageviews from
-- traffic_hourly (visit dimensions: from visits_hourly), visits, bounces and duration from
-- visits_hourly. Rows with fewer than min_cell visitors (exit pages: exits) fold into one
-- "Other" row.
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
        if({visit_dimension:UInt8}, visit_visitors, traffic_visitors) AS visitor_state,
        finalizeAggregation(visitor_state) AS cell_visitors,
        if({fold_on_visits:UInt8}, cell_visits, cell_visitors) < {min_cell:UInt32} AS folds,
        cell_pageviews, cell_visits, cell_bounces, cell_duration, cell_country
    FROM
    (
        SELECT
            value,
            uniqCombinedMergeStateIf(15)(visitors, {visit_dimension:UInt8} = 0) AS traffic_visitors,
            sum(pageviews) AS cell_pageviews,
            max(country) AS cell_country
        FROM /* include traffic_rollup */
        WHERE site = {site:String} AND dimension = {dimension:String}
          AND hour >= {start:DateTime('UTC')} AND hour < {end:DateTime('UTC')}
        GROUP BY value
    ) AS traffic
    FULL OUTER JOIN
    (
        SELECT
            max(value) AS value,
            uniqCombinedMergeStateIf(15)(visitors, {visit_dimension:UInt8} = 1) AS visit_visitors,
            sum(visits) AS cell_visits,
            sum(bounces) AS cell_bounces,
            sum(duration) AS cell_duration
        FROM /* include visits_rollup */
        WHERE site = {site:String} AND dimension = {dimension:String}
          AND hour >= {start:DateTime('UTC')} AND hour < {end:DateTime('UTC')}
        GROUP BY key
    ) AS visit_cells USING (value)
    WHERE cell_visitors > 0 OR cell_visits != 0
)
GROUP BY value, other
