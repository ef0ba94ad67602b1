-- Visits per visitor in the period (visits started in it), as buckets of visitors.
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
        FROM audience.events
        WHERE site = {site:String}
          AND ts >= {start:DateTime('UTC')} AND ts < {wide_end:DateTime('UTC')}
          AND visit_start >= {start:DateTime('UTC')} AND visit_start < {end:DateTime('UTC')}
          AND event_number = 1
          AND /* include chosen_visits */
        GROUP BY visitor
    )
    GROUP BY bucket
)
GROUP BY value, other
