-- One row per value of an event dimension (an alias column of audience.events), from the events:
-- visitors and pageviews by the events' own value (events in the period, of the visits kept by the
-- filters); visits, bounces, duration and engaged visits by the value of each visit's first event
-- (visit_cells). Rows with fewer than min_cell visitors fold into one "Other" row.
SELECT
    if(folds, '', value) AS value,
    folds AS other,
    uniqExactMerge(visitor_set) AS visitors,
    sum(cell_pageviews) AS pageviews,
    sum(cell_visits) AS visits,
    sum(cell_bounces) AS bounces,
    sum(cell_duration) AS duration,
    sum(cell_engaged) AS engaged,
    max(cell_country) AS country
FROM
(
    SELECT
        value,
        visitor_set,
        finalizeAggregation(visitor_set) < {min_cell:UInt32} AS folds,
        cell_pageviews, cell_visits, cell_bounces, cell_duration, cell_engaged, cell_country
    FROM
    (
        SELECT
            {dimension:Identifier} AS value,
            uniqExactState(visitor) AS visitor_set,
            countIf(type = 'pageview') AS cell_pageviews,
            max(country) AS cell_country
        FROM audience.events
        WHERE site = {site:String}
          AND ts >= {start:DateTime('UTC')} AND ts < {end:DateTime('UTC')}
          AND /* include chosen_visits */
        GROUP BY value
    ) AS traffic
    FULL OUTER JOIN /* include visit_cells */ AS visit_cells USING (value)
)
GROUP BY value, other
