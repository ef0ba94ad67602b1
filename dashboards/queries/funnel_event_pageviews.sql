-- The pageviews of audience.events in [events_from, events_to) that name a step of the funnel's
-- `steps` (funnel_visits.sql), as numbers (collector/storage/sql/funnel_pageview.sql), but those
-- of the visits read from the funnels' rows: the visits started in [rolled_from, rolled_to) that
-- have pageviews here are those listed in audience.closed_visits for [rolled_from,
-- first_listed_to) and [last_listed_from, rolled_to) (a visit's pageviews lie within a day of
-- its start). Only the visits kept by the filters.
SELECT visit, visitor, /* include collector.storage:sql/funnel_pageview */ AS pageview
FROM audience.events
WHERE site = {site:String}
  AND ts >= events_from AND ts < events_to
  AND type = 'pageview' AND multiMatchAny(toLowCardinality(path), steps)
  AND visit NOT IN (
      SELECT visit FROM audience.closed_visits
      WHERE site = {site:String}
        AND ((hour >= {rolled_from:DateTime('UTC')} AND hour < {first_listed_to:DateTime('UTC')})
             OR (hour >= {last_listed_from:DateTime('UTC')}
                 AND hour < {rolled_to:DateTime('UTC')})))
  AND /* include chosen_visits */
