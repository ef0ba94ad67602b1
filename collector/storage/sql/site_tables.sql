-- The tables holding rows of sites (a `site` column), which erasing a site's data empties of it:
-- on a cluster schema, the shards' local tables behind the Distributed ones (`<name>_local`).
SELECT DISTINCT c.table AS name
FROM system.columns AS c
INNER JOIN system.tables AS t ON t.database = c.database AND t.name = c.table
WHERE c.database = 'audience' AND c.name = 'site' AND t.engine LIKE '%MergeTree'
ORDER BY name
