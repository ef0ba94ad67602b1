-- How many rows of audience.funnel_pageviews the steps ({steps}, their cityHash64) of {site}'s
-- funnels have for the visits started in [a, b).
SELECT count() FROM audience.funnel_pageviews
WHERE site = {site:String} AND steps = {steps:UInt64}
  AND hour >= {a:DateTime('UTC')} AND hour < {b:DateTime('UTC')}
