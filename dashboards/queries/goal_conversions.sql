-- Each goal's conversions in [start, end), from the events of the visits kept by the filters:
-- goal 0 is every event (the period's visitors); goal i > 0, the pageviews of a page the i-th
-- pattern names (regular expressions made by dashboards/path_patterns.py). A goal's visitors are
-- the distinct visitors with such a pageview in the period; its conversions, the distinct visits.
SELECT goal, uniqExact(visitor) AS visitors, uniqExact(visit) AS conversions
FROM audience.events
ARRAY JOIN arrayPushFront(
    if(type = 'pageview', multiMatchAllIndices(path, {patterns:Array(String)}), []), 0) AS goal
WHERE site = {site:String}
  AND ts >= {start:DateTime('UTC')} AND ts < {end:DateTime('UTC')}
  AND /* include chosen_visits */
GROUP BY goal
