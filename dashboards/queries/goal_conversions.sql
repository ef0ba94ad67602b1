-- Each goal's conversions in [start, end), from the events of the visits kept by the filters:
-- goal 0 is every event (the period's visitors); goal i > 0, the events on a page the i-th
-- pattern names (regular expressions made by collector/storage/path_patterns.py). A goal's
-- visitors are the distinct visitors with such an event in the period (a pageview, or the
-- engagement beacon sent from the page); its conversions, the pageviews among them.
SELECT
    goal,
    uniqExact(visitor) AS visitors,
    countIf(type = 'pageview' AND goal > 0) AS conversions
FROM audience.events
ARRAY JOIN arrayPushFront(multiMatchAllIndices(path, {patterns:Array(String)}), 0) AS goal
WHERE site = {site:String}
  AND ts >= {start:DateTime('UTC')} AND ts < {end:DateTime('UTC')}
  AND /* include chosen_visits */
GROUP BY goal
