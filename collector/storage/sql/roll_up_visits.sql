-- The hourly rollups of the visits started in [a, b), for every visit dimension of the
-- breakdowns (a column of audience.visit_summaries; '' for all visits) and for the pages the
-- visits showed ('page', value the path). `engaged` counts the engaged visits (two pageviews or
-- the site's threshold of engaged time, visits_started). The entry, exit and page cells hold the
-- visits' engaged time on their page (summed, and the state of its exact median); the page cells
-- the page's pageviews in the visits and the exits from it. One statement, so that the visits
-- are merged once per step.
INSERT INTO audience.visit_rollup
    (site, hour, dimension, value, visits, bounces, duration, engaged, page_pageviews, exits,
     page_time, page_times, visitors)
SELECT {site:String}, toStartOfHour(visit_start) AS start_hour, cell.1 AS name, cell.2 AS value,
    count(), countIf(visit_pageviews = 1), sum(duration), countIf(engaged), sum(cell.5),
    sum(cell.6), sum(cell.3), quantileExactInclusiveStateIf(0.5)(cell.3, cell.4),
    uniqCombinedState(15)(visitor)
FROM /* include visits_started */
-- (dimension, value, engaged ms on the page, has a page, pageviews of the page, exits from it)
ARRAY JOIN arrayConcat(
    [
        ('', '', 0, 0, 0, 0), ('entry_page', entry_page, entry_time, 1, 0, 0),
        ('exit_page', exit_page, exit_time, 1, 0, 0),
        ('visitor_type', visitor_type, 0, 0, 0, 0), ('visit_bucket', visit_bucket, 0, 0, 0, 0),
        ('days_bucket', days_bucket, 0, 0, 0, 0), ('city', city, 0, 0, 0, 0),
        ('country', country, 0, 0, 0, 0), ('operator', operator, 0, 0, 0, 0),
        ('browser', browser, 0, 0, 0, 0), ('browser_release', browser_release, 0, 0, 0, 0),
        ('os', os, 0, 0, 0, 0), ('device', device, 0, 0, 0, 0)
    ],
    arrayMap(
        (path, views, time) -> ('page', path, time, 1, views, path = exit_page),
        shown_paths, shown_views, shown_times
    )
) AS cell
GROUP BY start_hour, name, value
SETTINGS insert_deduplicate = 0
