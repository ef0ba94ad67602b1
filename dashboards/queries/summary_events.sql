-- KPI totals from the events: events in [start, end) for visitors and pageviews, events of the
-- visits started in [start, end) for the visit metrics (see schema/004_visit_steps.sql).
SELECT
    uniqExactIf(visitor, ts < {end:DateTime('UTC')}) AS visitors,
    countIf(type = 'pageview' AND ts < {end:DateTime('UTC')}) AS pageviews,
    uniqExactIf(visitor, visit_number > 1 AND ts < {end:DateTime('UTC')}) AS returning,
    countIf(event_number = 1 AND visit_start < {end:DateTime('UTC')}) AS visits,
    sumIf(bounce, visit_start < {end:DateTime('UTC')}) AS bounces,
    sumIf(since_previous, visit_start < {end:DateTime('UTC')}) AS duration
FROM audience.events
WHERE site = {site:String}
  AND ts >= {start:DateTime('UTC')} AND ts < {wide_end:DateTime('UTC')}
  AND (ts < {end:DateTime('UTC')} OR (visit_start >= {start:DateTime('UTC')} AND visit_start < {end:DateTime('UTC')}))
  AND /* include chosen_visits */
