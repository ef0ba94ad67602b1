-- One row per value of a dimension (an alias column of audience.events), from the events.
-- Event dimensions count visitors over the period's events; visit dimensions over the visits
-- started in the period. Rows with fewer than min_cell visitors fold into one "Other" row.
SELECT
    if(cell_visitors < {min_cell:UInt32}, '', value) AS value,
    cell_visitors < {min_cell:UInt32} AS other,
    uniqExactMerge(visitor_set) AS visitors,
    sum(cell_pageviews) AS pageviews,
    sum(cell_visits) AS visits,
    sum(cell_bounces) AS bounces,
    sum(cell_duration) AS duration,
    max(cell_country) AS country
FROM
(
    SELECT
        {dimension:Identifier} AS value,
        uniqExactStateIf(visitor, counted) AS visitor_set,
        uniqExactIf(visitor, counted) AS cell_visitors,
        countIf(type = 'pageview' AND in_period) AS cell_pageviews,
        countIf(event_number = 1 AND visit_in_period) AS cell_visits,
        sumIf(bounce, visit_in_period) AS cell_bounces,
        sumIf(since_previous, visit_in_period) AS cell_duration,
        maxIf(country, counted) AS cell_country
    FROM
    (
        SELECT
            visitor, type, event_number, since_previous, bounce, path, city, country, operator,
            browser, browser_release, os, device, visitor_type, visit_bucket, days_bucket,
            ts < {end:DateTime('UTC')} AS in_period,
            visit_start >= {start:DateTime('UTC')} AND visit_start < {end:DateTime('UTC')} AS visit_in_period,
            if({visit_dimension:UInt8}, event_number = 1 AND visit_in_period, in_period) AS counted
        FROM audience.events
        WHERE site = {site:String}
          AND ts >= {start:DateTime('UTC')} AND ts < {wide_end:DateTime('UTC')}
          AND /* include chosen_visits */
    )
    GROUP BY value
    HAVING cell_visitors > 0 OR cell_visits != 0
)
GROUP BY value, other
