-- The pages' breakdown on the events path: visitors and pageviews by the events' path (events in
-- the period, of the visits kept by the filters), as breakdown_events; and per page, the visits
-- started in the period that showed it, their bounces, durations and engaged ones, the page's
-- pageviews and exits in them and its time on page (page_cells). A page gets a row when it has
-- an event in the period. Rows with fewer than min_cell visitors fold into one "Other" row.
SELECT
    if(folds, '', value) AS value,
    folds AS other,
    uniqExactMerge(visitor_set) AS visitors,
    sum(cell_pageviews) AS pageviews,
    sum(cell_visits) AS visits,
    sum(cell_bounces) AS bounces,
    sum(cell_duration) AS duration,
    sum(cell_engaged) AS engaged,
    sum(cell_page_pageviews) AS page_pageviews,
    sum(cell_exits) AS exits,
    sum(cell_page_time) AS page_time,
    quantileExactInclusiveMerge(0.5)(cell_page_times) AS median_page_time,
    '' AS country
FROM
(
    SELECT
        value,
        visitor_set,
        finalizeAggregation(visitor_set) < {min_cell:UInt32} AS folds,
        cell_pageviews, cell_visits, cell_bounces, cell_duration, cell_engaged,
        cell_page_pageviews, cell_exits, cell_page_time, cell_page_times
    FROM
    (
        SELECT
            path AS value,
            uniqExactState(visitor) AS visitor_set,
            countIf(type = 'pageview') AS cell_pageviews
        FROM audience.events
        WHERE site = {site:String}
          AND ts >= {start:DateTime('UTC')} AND ts < {end:DateTime('UTC')}
          AND /* include chosen_visits */
        GROUP BY value
    ) AS traffic
    LEFT JOIN /* include page_cells */ AS page_cells USING (value)
)
GROUP BY value, other
