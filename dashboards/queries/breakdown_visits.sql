-- One row per value of a visit dimension ({visit_column}: entry or exit page, visit number, days
-- since the last visit; a column of visits_started): the visits started in the period and kept by
-- the filters, and their visitors; for the entry and exit pages ({with_times} = 1), the visits'
-- engaged time on that page ({time_column}: entry_time, exit_time), summed and its median. Rows
-- with fewer than min_cell visitors fold into one "Other" row.
SELECT
    if(folds, '', value) AS value,
    folds AS other,
    uniqExactMerge(visitor_set) AS visitors,
    toUInt64(0) AS pageviews,
    sum(cell_visits) AS visits,
    sum(cell_bounces) AS bounces,
    sum(cell_duration) AS duration,
    sum(cell_engaged) AS engaged,
    toUInt64(0) AS page_pageviews,
    toUInt64(0) AS exits,
    sum(cell_page_time) AS page_time,
    quantileExactInclusiveMerge(0.5)(cell_page_times) AS median_page_time,
    '' AS country
FROM
(
    SELECT
        {visit_column:Identifier} AS value,
        uniqExactState(visitor) AS visitor_set,
        uniqExact(visitor) < {min_cell:UInt32} AS folds,
        count() AS cell_visits,
        countIf(visit_pageviews = 1) AS cell_bounces,
        sum(duration) AS cell_duration,
        countIf(engaged) AS cell_engaged,
        sumIf({time_column:Identifier}, {with_times:UInt8} = 1) AS cell_page_time,
        quantileExactInclusiveStateIf(0.5)({time_column:Identifier}, {with_times:UInt8} = 1)
            AS cell_page_times
    FROM /* include visits_started */
    GROUP BY value
)
GROUP BY value, other
