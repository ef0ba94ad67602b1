-- The visits started in the period, their bounces, summed durations and engaged visits: the
-- rolled-up ones and the open ones. Included where a summary says /* include visit_totals */.
(
    SELECT sum(visits) AS visits, sum(bounces) AS bounces, sum(duration) AS duration,
        sum(engaged) AS engaged
    FROM
    (
        SELECT visits, bounces, duration, engaged FROM /* include rolled_up_visits */
        UNION ALL
        SELECT count(), countIf(visit_pageviews = 1), toUInt64(sum(duration)), countIf(engaged)
        FROM /* include visits_started */
    )
)
