-- The tables holding rows of sites (a `site` column), which erasing a site's data empties of it.
SELECT DISTINCT c.table AS name
FROM system.columns AS c
INNER JOIN system.tables AS t ON t.database = c.database AND t.name = c.table
WHERE c.database = 'audience' AND c.name = 'site' AND t.engine LIKE '%MergeTree'
    AND NOT endsWith(c.table, '_local')
ORDER BY name
