-- KPI totals from the traffic rollups (whole UTC days from the daily ones, the period's edge
-- hours from the hourly ones; no filter, whole UTC hours) and the visits started in the period.
WITH
    traffic AS (
        SELECT uniqCombinedMerge(15)(visitors) AS visitors, sum(pageviews) AS pageviews
        FROM /* include traffic_rollup */
        WHERE site = {site:String} AND dimension = ''
          AND hour >= {start:DateTime('UTC')} AND hour < {end:DateTime('UTC')}
    ),
    returning AS (
        SELECT uniqCombinedMerge(15)(visitors) AS returning
        FROM /* include traffic_rollup */
        WHERE site = {site:String} AND dimension = 'visitor_type' AND value = 'returning'
          AND hour >= {start:DateTime('UTC')} AND hour < {end:DateTime('UTC')}
    ),
    visit_totals AS /* include visit_totals */
SELECT visitors, pageviews, returning, visits, bounces, duration, engaged
FROM traffic, returning, visit_totals
