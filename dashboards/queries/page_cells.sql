-- The pages shown by the visits started in the period, on the events path: per page, the visits
-- that showed it (their bounces, durations, engaged ones), its pageviews in them, the exits from
-- it, and the visits' engaged time on it (their time on page, README), summed and as the state
-- of its exact median. Included where the pages' breakdown says /* include page_cells */.
(
    SELECT
        path AS value,
        count() AS cell_visits,
        countIf(visit_pageviews = 1) AS cell_bounces,
        toUInt64(sum(duration)) AS cell_duration,
        countIf(engaged) AS cell_engaged,
        sum(views_on_page) AS cell_page_pageviews,
        countIf(exit_page = path) AS cell_exits,
        sum(time_on_page) AS cell_page_time,
        quantileExactInclusiveState(0.5)(time_on_page) AS cell_page_times
    FROM /* include visits_started */
    ARRAY JOIN shown_paths AS path, shown_views AS views_on_page, shown_times AS time_on_page
    GROUP BY value
)
