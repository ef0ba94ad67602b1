-- Visits per time bucket (in the site's time zone) of their start. Included where a time series
-- says /* include visit_buckets */.
(
    SELECT
        multiIf({interval:String} = 'hour', formatDateTime(visit_start, '%Y-%m-%d %H:00', {tz:String}),
                {interval:String} = 'week', toString(toMonday(visit_start, {tz:String})),
                {interval:String} = 'month', toString(toStartOfMonth(visit_start, {tz:String})),
                toString(toDate(visit_start, {tz:String}))) AS bucket,
        count() AS all_visits,
        countIf(visit_pageviews = 1) AS all_bounces,
        sum(duration) AS all_duration
    FROM /* include visits_started */
    GROUP BY bucket
)
