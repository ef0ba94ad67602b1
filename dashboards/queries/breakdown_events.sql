-- One row per value of an event dimension (an alias column of audience.events), from the events:
-- visitors and pageviews by the events' own value (events in the period, of the visits kept by the
-- filters); visits, bounces, duration and engaged visits by the value of each visit's first event,
-- or for the pages by each page the visit showed, with the pages' time and exits (visit_cells).
-- A page gets a row when it has an event in the period. Rows with fewer than min_cell visitors
-- fold into one "Other" row.
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
    max(cell_country) AS country
FROM
(
    SELECT
        value,
        visitor_set,
        finalizeAggregation(visitor_set) < {min_cell:UInt32} AS folds,
        cell_pageviews, cell_visits, cell_bounces, cell_duration, cell_engaged,
        cell_page_pageviews, cell_exits, cell_page_time, cell_page_times, cell_country
    FROM
    (
        SELECT
            {dimension:Identifier} AS value,
            uniqExactState(visitor) AS visitor_set,
            countIf(type = 'pageview') AS cell_pageviews,
            max(country) AS cell_country,
            1 AS in_traffic
        FROM audience.events
        WHERE site = {site:String}
          AND ts >= {start:DateTime('UTC')} AND ts < {end:DateTime('UTC')}
          AND /* include chosen_visits */
        GROUP BY value
    ) AS traffic
    FULL OUTER JOIN /* include visit_cells */ AS visit_cells USING (value)
    WHERE {with_pages:UInt8} = 0 OR in_traffic
)
GROUP BY value, other
