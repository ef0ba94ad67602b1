-- Each goal's conversions in [start, end) from the traffic rollups (no filter, whole UTC hours):
-- goal 0, the period's visitors (dimension ''); goal i > 0, the visitors with an event on a page
-- the i-th pattern names and those pages' pageviews (dimension 'page'), as goal_conversions.sql
-- counts them from the events. Visitors merged from uniqCombined states.
SELECT
    goal,
    uniqCombinedMerge(15)(visitors) AS visitors,
    sum(if(goal = 0, 0, pageviews)) AS conversions
FROM /* include traffic_rollup */
ARRAY JOIN if(dimension = 'page', multiMatchAllIndices(value, {patterns:Array(String)}), [0])
    AS goal
WHERE site = {site:String} AND dimension IN ('', 'page')
  AND hour >= {start:DateTime('UTC')} AND hour < {end:DateTime('UTC')}
GROUP BY goal
