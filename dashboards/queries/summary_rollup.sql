-- KPI totals from the hourly rollups (no filter, whole UTC hours).
WITH
    traffic AS (
        SELECT uniqCombinedMerge(15)(visitors) AS visitors, sum(pageviews) AS pageviews
        FROM audience.traffic_hourly
        WHERE site = {site:String} AND dimension = ''
          AND hour >= {start:DateTime('UTC')} AND hour < {end:DateTime('UTC')}
    ),
    returning AS (
        SELECT uniqCombinedMerge(15)(visitors) AS returning
        FROM audience.traffic_hourly
        WHERE site = {site:String} AND dimension = 'visitor_type' AND value = 'returning'
          AND hour >= {start:DateTime('UTC')} AND hour < {end:DateTime('UTC')}
    ),
    visit_totals AS (
        SELECT sum(visits) AS visits, sum(bounces) AS bounces, sum(duration) AS duration
        FROM audience.visits_hourly
        WHERE site = {site:String} AND dimension = ''
          AND hour >= {start:DateTime('UTC')} AND hour < {end:DateTime('UTC')}
    )
SELECT visitors, pageviews, returning, visits, bounces, duration
FROM traffic, returning, visit_totals
