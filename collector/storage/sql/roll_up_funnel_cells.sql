-- The hourly cells of audience.funnel_visit_cells (schema/023) of one funnel's steps
-- ({regexes}) for the closed visits of {site} started in [a, b), from their rows in
-- audience.funnel_pageviews (written first) whole within a day: per hour and step, the visitors
-- whose visit reached the step within the visit, and the seconds from the step before
-- ({by_visit} = 1).
INSERT INTO audience.funnel_visit_cells (site, steps, hour, step, visitors, gaps)
WITH length({regexes:Array(String)}) AS n, toUInt64(-1) AS end_key
SELECT {site:String}, cityHash64({regexes:Array(String)}), hour, step,
    uniqCombinedState(15)(visitor),
    quantileExactInclusiveStateIf(0.5)(toUInt32(reached[step] - reached[step - 1]), step > 1)
FROM
(
    SELECT hour, visitor, /* include funnel_visit_reach */
    FROM audience.funnel_pageviews
    WHERE site = {site:String} AND steps = cityHash64({regexes:Array(String)})
      AND hour >= {a:DateTime('UTC')} AND hour < {b:DateTime('UTC')}
      AND whole AND entry != 0
)
ARRAY JOIN arrayEnumerate(reached) AS step
GROUP BY hour, step
SETTINGS insert_deduplicate = 0
