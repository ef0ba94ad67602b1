-- The UTC days of a rollup's time column on which a visitor's events count, per site.
SELECT site, groupUniqArray(toDate({column:Identifier})) FROM audience.events
WHERE visitor = {v:UInt64} GROUP BY site
