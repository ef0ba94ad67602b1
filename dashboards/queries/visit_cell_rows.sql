-- Visits per value of the visit dimension {visit_column} (a column of visits_started): the
-- rolled-up ones and the open ones, in rows to sum by value. Nothing is read when the dimension
-- shows no visit metrics ({with_visits} = 0). Included where a query says
-- /* include visit_cell_rows */.
(
    SELECT value, visits, bounces, duration, visitors
    FROM /* include rolled_up_visits */
    WHERE {with_visits:UInt8} = 1
    UNION ALL
    SELECT
        {visit_column:Identifier} AS value,
        count() AS visits,
        countIf(visit_pageviews = 1) AS bounces,
        toUInt64(sum(duration)) AS duration,
        uniqCombinedState(15)(visitor) AS visitors
    FROM /* include visits_started */
    WHERE {with_visits:UInt8} = 1
    GROUP BY value
)
