-- The installation check of a site: its first stored pageview (time and page) and how many are
-- stored. Stored means consented: nothing reaches the events without consent.
SELECT
    count() AS pageviews,
    min(ts) AS first_at,
    argMin(path, ts) AS first_path
FROM audience.events
WHERE site = {site:String} AND type = 'pageview'
