-- The annotations of a site dated from {first} to {last} (dates of the site's time zone) that
-- are not removed, oldest day first; with shared_only = 1, only those shared links show.
SELECT id, site, day, text, author, shared, created_at
FROM audience.annotations FINAL
WHERE site = {site:String}
  AND day BETWEEN {first:Date} AND {last:Date}
  AND (shared = 1 OR {shared_only:UInt8} = 0)
ORDER BY day, created_at, id
