-- The funnels of a site that are not removed, oldest first.
SELECT site, id, name, steps, within, created_by, created_at
FROM audience.funnels FINAL
WHERE site = {site:String}
ORDER BY created_at, id
