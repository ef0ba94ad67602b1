-- One annotation of a site that is not removed, by its id.
SELECT id, site, day, text, author, shared, created_at
FROM audience.annotations FINAL
WHERE site = {site:String} AND id = {id:String}
