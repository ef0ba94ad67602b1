-- The visits rollup of a period: whole UTC days from the daily table, the edge hours from the
-- hourly one. Included where a query says /* include visits_rollup */.
(
    SELECT * FROM audience.visits_daily
    WHERE site = {site:String}
      AND hour >= {day_start:DateTime('UTC')} AND hour < {day_end:DateTime('UTC')}
    UNION ALL
    SELECT * FROM audience.visits_hourly
    WHERE site = {site:String}
      AND (hour < {day_start:DateTime('UTC')} OR hour >= {day_end:DateTime('UTC')})
)
