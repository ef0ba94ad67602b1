-- KPI totals per time bucket (in the site's time zone) from the events: events by their own
-- time, visits by their start.
SELECT
    bucket,
    events.all_visitors AS visitors, events.all_pageviews AS pageviews,
    events.returning_visitors AS returning,
    visit_cells.all_visits AS visits, visit_cells.all_bounces AS bounces,
    visit_cells.all_duration AS duration, visit_cells.all_engaged AS engaged
FROM
(
    SELECT
        multiIf({interval:String} = 'hour', formatDateTime(ts, '%Y-%m-%d %H:00', {tz:String}),
                {interval:String} = 'week', toString(toMonday(ts, {tz:String})),
                {interval:String} = 'month', toString(toStartOfMonth(ts, {tz:String})),
                toString(toDate(ts, {tz:String}))) AS bucket,
        uniqExact(visitor) AS all_visitors,
        countIf(type = 'pageview') AS all_pageviews,
        uniqExactIf(visitor, visit_number > 1) AS returning_visitors
    FROM audience.events
    WHERE site = {site:String} AND ts >= {start:DateTime('UTC')} AND ts < {end:DateTime('UTC')}
      AND /* include chosen_visits */
    GROUP BY bucket
) AS events
FULL OUTER JOIN /* include visit_buckets */ AS visit_cells USING (bucket)
