-- The rows of audience.funnel_pageviews of {site}'s visits started in [a, b), for every funnel.
DELETE FROM audience.funnel_pageviews
WHERE site = {site:String} AND hour >= {a:DateTime('UTC')} AND hour < {b:DateTime('UTC')}
