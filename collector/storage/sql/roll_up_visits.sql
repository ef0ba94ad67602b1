-- The hourly rollups of the visits started in [a, b), for every visit dimension of the
-- breakdowns (a column of audience.visit_summaries; '' for all visits). A visit is engaged with
-- two pageviews or {engaged_ms} of engaged time (the site's threshold); the entry and exit pages'
-- cells hold the engaged time of their page (the visit's time on it) and its median's state.
INSERT INTO audience.visit_rollup
    (site, hour, dimension, value, visits, bounces, duration, engaged, page_pageviews, exits,
     page_time, page_times, visitors)
SELECT {site:String}, toStartOfHour(visit_start) AS start_hour, pair.1 AS name, pair.2 AS cell,
    count(), countIf(visit_pageviews = 1), sum(duration),
    countIf(engaged), 0, 0,
    sum(pair.3), quantileExactInclusiveStateIf(0.5)(pair.3, pair.4),
    uniqCombinedState(15)(visitor)
FROM /* include visits_started */
ARRAY JOIN [
    ('', '', 0, 0), ('entry_page', entry_page, entry_time, 1),
    ('exit_page', exit_page, exit_time, 1),
    ('visitor_type', visitor_type, 0, 0), ('visit_bucket', visit_bucket, 0, 0),
    ('days_bucket', days_bucket, 0, 0), ('city', city, 0, 0), ('country', country, 0, 0),
    ('operator', operator, 0, 0), ('browser', browser, 0, 0),
    ('browser_release', browser_release, 0, 0), ('os', os, 0, 0), ('device', device, 0, 0)
] AS pair
GROUP BY start_hour, name, cell
SETTINGS insert_deduplicate = 0
