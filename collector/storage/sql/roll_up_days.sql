-- The whole UTC days [a, b) of the hourly rollups, summed per day: of one site, or of every site.
INSERT INTO audience.visit_rollup_daily
    (site, hour, dimension, value, visits, bounces, duration, engaged, page_pageviews, exits,
     page_time, page_times, visitors)
SELECT site, toStartOfDay(hour) AS day, dimension, value, sum(visits), sum(bounces),
    sum(duration), sum(engaged), sum(page_pageviews), sum(exits), sum(page_time),
    quantileExactInclusiveMergeState(0.5)(page_times), uniqCombinedMergeState(15)(visitors)
FROM audience.visit_rollup
WHERE hour >= {a:DateTime('UTC')} AND hour < {b:DateTime('UTC')}
  AND (site = {site:String} OR {every_site:Bool})
GROUP BY site, day, dimension, value
SETTINGS insert_deduplicate = 0
