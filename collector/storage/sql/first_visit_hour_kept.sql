-- The first hour of visits the retention keeps (m: 1 - its months, or far back without one).
SELECT min(hour), count() FROM audience.visits
WHERE hour >= addMonths(toStartOfMonth({now:DateTime('UTC')}), {m:Int32})
