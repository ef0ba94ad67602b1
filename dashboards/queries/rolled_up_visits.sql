-- The rollup rows of the closed visits that started in [start, rolled_to), for the visit dimensions
-- {visit_dimensions} ('' for all visits): the whole UTC days [day_start, rolled_days_to) from the
-- daily rollups, the other hours from the hourly ones. Empty on the events path, where
-- rolled_to = start. Included where a query says /* include rolled_up_visits */.
(
    SELECT dimension, hour, value, visits, bounces, duration, engaged, page_pageviews, exits,
        page_time, page_times, visitors
    FROM audience.visit_rollup_daily
    WHERE site = {site:String} AND dimension IN {visit_dimensions:Array(String)}
      AND hour >= {day_start:DateTime('UTC')} AND hour < {rolled_days_to:DateTime('UTC')}
    UNION ALL
    SELECT dimension, hour, value, visits, bounces, duration, engaged, page_pageviews, exits,
        page_time, page_times, visitors
    FROM audience.visit_rollup
    WHERE site = {site:String} AND dimension IN {visit_dimensions:Array(String)}
      AND hour >= {start:DateTime('UTC')} AND hour < {rolled_to:DateTime('UTC')}
      AND (hour < {day_start:DateTime('UTC')} OR hour >= {rolled_days_to:DateTime('UTC')})
)
