-- The hourly rollups of the pages shown by the visits started in [a, b) (dimension 'page', value
-- the path): per page, the visits that showed it (their bounces, durations, engaged ones as in
-- roll_up_visits), its pageviews in them, the exits from it, the visits' engaged time on it and
-- its median's state.
INSERT INTO audience.visit_rollup
    (site, hour, dimension, value, visits, bounces, duration, engaged, page_pageviews, exits,
     page_time, page_times, visitors)
SELECT {site:String}, toStartOfHour(visit_start) AS start_hour, 'page', path,
    count(), countIf(visit_pageviews = 1), sum(duration),
    countIf(engaged), sum(views_on_page),
    countIf(exit_page = path), sum(time_on_page), quantileExactInclusiveState(0.5)(time_on_page),
    uniqCombinedState(15)(visitor)
FROM /* include visits_started */
ARRAY JOIN shown_paths AS path, shown_views AS views_on_page, shown_times AS time_on_page
GROUP BY start_hour, path
SETTINGS insert_deduplicate = 0
