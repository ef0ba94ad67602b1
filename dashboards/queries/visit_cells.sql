-- Visits started in the period per value of an event dimension, on the events path: the value of
-- each visit's first event ({visit_column}, a column of visits_started); nothing is read when the
-- dimension shows no visit metrics ({with_visits} = 0). Included where a breakdown says
-- /* include visit_cells */.
(
    SELECT
        {visit_column:Identifier} AS value,
        count() AS cell_visits,
        countIf(visit_pageviews = 1) AS cell_bounces,
        toUInt64(sum(duration)) AS cell_duration,
        countIf(engaged) AS cell_engaged
    FROM /* include visits_started */
    WHERE {with_visits:UInt8} = 1
    GROUP BY value
)
