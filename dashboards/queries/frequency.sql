-- Visits per visitor in the period (visits started in it and kept by the filters), as buckets of
-- visitors: the closed visits listed in audience.closed_visits (none on the events path, where
-- rolled_to = start) and the open ones.
SELECT
    if(cell_visitors < {min_cell:UInt32}, '', bucket) AS value,
    cell_visitors < {min_cell:UInt32} AS other,
    sum(cell_visitors) AS visitors,
    toUInt64(0) AS pageviews,
    sum(cell_visits) AS visits,
    toInt64(0) AS bounces,
    toUInt64(0) AS duration,
    '' AS country
FROM
(
    SELECT
        multiIf(visits = 1, '1', visits = 2, '2', visits = 3, '3', visits <= 7, '4-7',
                visits <= 14, '8-14', '15+') AS bucket,
        count() AS cell_visitors,
        sum(visits) AS cell_visits
    FROM
    (
        SELECT visitor, count() AS visits
        FROM
        (
            SELECT visitor FROM audience.closed_visits
            WHERE site = {site:String}
              AND hour >= {start:DateTime('UTC')} AND hour < {rolled_to:DateTime('UTC')}
            UNION ALL
            SELECT visitor FROM /* include visits_started */
        )
        GROUP BY visitor
    )
    GROUP BY bucket
)
GROUP BY value, other
