-- The hourly rollups of the visits started in [a, b), for every visit dimension of the
-- breakdowns (a column of audience.visit_summaries; '' for all visits).
INSERT INTO audience.visit_rollup
    (site, hour, dimension, value, visits, bounces, duration, visitors)
SELECT {site:String}, toStartOfHour(visit_start) AS start_hour, pair.1 AS name, pair.2 AS cell,
    count(), countIf(visit_pageviews = 1), sum(duration), uniqCombinedState(15)(visitor)
FROM /* include visits_started */
ARRAY JOIN [
    ('', ''), ('entry_page', entry_page), ('exit_page', exit_page),
    ('visitor_type', visitor_type), ('visit_bucket', visit_bucket),
    ('days_bucket', days_bucket), ('city', city), ('country', country),
    ('operator', operator), ('browser', browser), ('browser_release', browser_release),
    ('os', os), ('device', device)
] AS pair
GROUP BY start_hour, name, cell
SETTINGS insert_deduplicate = 0
