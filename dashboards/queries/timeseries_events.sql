-- KPI totals per time bucket (in the site's time zone) from the events: events by their own
-- time, visits by their start.
SELECT
    bucket,
    events.all_visitors AS visitors, events.all_pageviews AS pageviews,
    events.returning_visitors AS returning,
    visit_cells.all_visits AS visits, visit_cells.all_bounces AS bounces,
    visit_cells.all_duration AS duration
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
FULL OUTER JOIN
(
    SELECT
        multiIf({interval:String} = 'hour', formatDateTime(visit_start, '%Y-%m-%d %H:00', {tz:String}),
                {interval:String} = 'week', toString(toMonday(visit_start, {tz:String})),
                {interval:String} = 'month', toString(toStartOfMonth(visit_start, {tz:String})),
                toString(toDate(visit_start, {tz:String}))) AS bucket,
        countIf(event_number = 1) AS all_visits,
        sum(bounce) AS all_bounces,
        sum(since_previous) AS all_duration
    FROM audience.events
    WHERE site = {site:String}
      AND ts >= {start:DateTime('UTC')} AND ts < {wide_end:DateTime('UTC')}
      AND visit_start >= {start:DateTime('UTC')} AND visit_start < {end:DateTime('UTC')}
      AND /* include chosen_visits */
    GROUP BY bucket
) AS visit_cells USING (bucket)
