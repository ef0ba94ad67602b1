-- The rollup rows of the closed visits that started in [start, rolled_to), for the visit dimension
-- {visit_dimension} ('' for all visits): empty on the events path, where rolled_to = start.
-- Included where a query says /* include rolled_up_visits */.
(
    SELECT hour, value, visits, bounces, duration, visitors
    FROM audience.visit_rollup
    WHERE site = {site:String} AND dimension = {visit_dimension:String}
      AND hour >= {start:DateTime('UTC')} AND hour < {rolled_to:DateTime('UTC')}
)
