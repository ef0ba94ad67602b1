-- The visits started in the period, their bounces and summed durations: the rolled-up ones and
-- the open ones. Included where a summary says /* include visit_totals */.
(
    SELECT sum(visits) AS visits, sum(bounces) AS bounces, sum(duration) AS duration
    FROM
    (
        SELECT visits, bounces, duration FROM /* include rolled_up_visits */
        UNION ALL
        SELECT count(), countIf(visit_pageviews = 1), toUInt64(sum(duration))
        FROM /* include visits_started */
    )
)
