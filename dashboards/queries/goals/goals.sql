-- The goals of a site that are not removed, oldest first.
SELECT site, id, name, pattern, created_by, created_at
FROM audience.goals FINAL
WHERE site = {site:String}
ORDER BY created_at, id
