-- The rows of audience.funnel_pageviews (schema/022) of one funnel's steps ({regexes}) for the
-- closed visits of {site} started in [a, b) (listed in audience.closed_visits): the numbers of
-- their pageviews that name a step, sorted, read from the events of [a, rows_to).
INSERT INTO audience.funnel_pageviews (site, steps, hour, visit, visitor, pageviews)
WITH {regexes:Array(String)} AS steps
SELECT {site:String}, cityHash64(steps), any(listed.hour), visit, any(visitor),
    arraySort(groupArray(pageview))
FROM
(
    SELECT visit, visitor, /* include funnel_pageview */ AS pageview
    FROM audience.events
    WHERE site = {site:String}
      AND ts >= {a:DateTime('UTC')} AND ts < {rows_to:DateTime('UTC')}
      AND type = 'pageview' AND multiMatchAny(toLowCardinality(path), steps)
) AS viewed
INNER JOIN
(
    SELECT visit, hour FROM audience.closed_visits
    WHERE site = {site:String} AND hour >= {a:DateTime('UTC')} AND hour < {b:DateTime('UTC')}
) AS listed USING (visit)
GROUP BY visit
SETTINGS insert_deduplicate = 0
