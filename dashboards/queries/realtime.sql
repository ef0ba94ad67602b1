-- Visitors with an event since a moment (the last minutes).
SELECT uniqExact(visitor) AS visitors
FROM audience.events
WHERE site = {site:String} AND ts >= {since:DateTime('UTC')}
