-- The start hours covered by the rows of {site}'s funnel steps {regexes} and their cells, if
-- any, and whether they reach back to the site's first closed visit (no visit with a pageview
-- started before them).
SELECT first_hour, through,
    first_hour <= (SELECT min(hour) FROM audience.closed_visits WHERE site = {site:String})
        AS from_first_visit
FROM audience.funnel_rollup_spans FINAL
WHERE site = {site:String} AND steps = cityHash64({regexes:Array(String)}) AND cells
