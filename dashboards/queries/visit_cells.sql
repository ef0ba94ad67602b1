-- Visits started in the period per value of an event dimension, on the events path: the value of
-- each visit's first event ({visit_column}, a column of visits_started) when the dimension shows
-- visit metrics ({with_visits} = 1); for the pages ({with_pages} = 1), each page the visit showed,
-- with its pageviews in the visit, whether the visit left on it and the visit's engaged time on
-- it (its time on page, README). Included where a breakdown says /* include visit_cells */.
(
    SELECT
        value,
        sum(visits) AS cell_visits,
        sum(bounces) AS cell_bounces,
        sum(duration) AS cell_duration,
        sum(engaged_visits) AS cell_engaged,
        sum(views) AS cell_page_pageviews,
        sum(visit_exits) AS cell_exits,
        sum(time) AS cell_page_time,
        quantileExactInclusiveMergeState(0.5)(times) AS cell_page_times
    FROM
    (
        SELECT
            {visit_column:Identifier} AS value,
            count() AS visits,
            countIf(visit_pageviews = 1) AS bounces,
            toUInt64(sum(duration)) AS duration,
            countIf(engaged) AS engaged_visits,
            toUInt64(0) AS views,
            toUInt64(0) AS visit_exits,
            toUInt64(0) AS time,
            quantileExactInclusiveStateIf(0.5)(toUInt64(0), 0) AS times
        FROM /* include visits_started */
        WHERE {with_visits:UInt8} = 1
        GROUP BY value
        UNION ALL
        SELECT
            path AS value,
            count() AS visits,
            countIf(visit_pageviews = 1) AS bounces,
            toUInt64(sum(duration)) AS duration,
            countIf(engaged) AS engaged_visits,
            sum(views_on_page) AS views,
            countIf(exit_page = path) AS visit_exits,
            sum(time_on_page) AS time,
            quantileExactInclusiveState(0.5)(time_on_page) AS times
        FROM /* include visits_started */
        ARRAY JOIN shown_paths AS path, shown_views AS views_on_page, shown_times AS time_on_page
        WHERE {with_pages:UInt8} = 1
        GROUP BY value
    )
    GROUP BY value
)
