-- KPI totals per time bucket (in the site's time zone): visitors and pageviews from the hourly
-- traffic rollups, visits by their start.
SELECT
    bucket,
    traffic.all_visitors AS visitors, traffic.all_pageviews AS pageviews,
    traffic.returning_visitors AS returning,
    visit_cells.all_visits AS visits, visit_cells.all_bounces AS bounces,
    visit_cells.all_duration AS duration, visit_cells.all_engaged AS engaged
FROM
(
    SELECT
        multiIf({interval:String} = 'hour', formatDateTime(hour, '%Y-%m-%d %H:00', {tz:String}),
                {interval:String} = 'week', toString(toMonday(hour, {tz:String})),
                {interval:String} = 'month', toString(toStartOfMonth(hour, {tz:String})),
                toString(toDate(hour, {tz:String}))) AS bucket,
        uniqCombinedMergeIf(15)(visitors, dimension = '') AS all_visitors,
        sumIf(pageviews, dimension = '') AS all_pageviews,
        uniqCombinedMergeIf(15)(visitors, dimension = 'visitor_type' AND value = 'returning')
            AS returning_visitors
    FROM audience.traffic_hourly
    WHERE site = {site:String} AND dimension IN ('', 'visitor_type')
      AND hour >= {start:DateTime('UTC')} AND hour < {end:DateTime('UTC')}
    GROUP BY bucket
) AS traffic
FULL OUTER JOIN /* include visit_buckets */ AS visit_cells USING (bucket)
