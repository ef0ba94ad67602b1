-- Visits per time bucket (in the site's time zone) of their start: the rolled-up ones by the hour
-- they started in, the open ones by their start. Included where a time series says
-- /* include visit_buckets */.
(
    SELECT
        multiIf({interval:String} = 'hour', formatDateTime(started, '%Y-%m-%d %H:00', {tz:String}),
                {interval:String} = 'week', toString(toMonday(started, {tz:String})),
                {interval:String} = 'month', toString(toStartOfMonth(started, {tz:String})),
                toString(toDate(started, {tz:String}))) AS bucket,
        sum(visits) AS all_visits,
        sum(bounces) AS all_bounces,
        sum(duration) AS all_duration,
        sum(engaged) AS all_engaged
    FROM
    (
        SELECT hour AS started, visits, bounces, duration, engaged
        FROM /* include rolled_up_visits */
        UNION ALL
        SELECT visit_start, 1, visit_pageviews = 1, toUInt64(duration), engaged
        FROM /* include visits_started */
    )
    GROUP BY bucket
)
