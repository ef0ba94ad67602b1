-- One row per value of a visit dimension ({visit_column}: entry or exit page, visit number, days
-- since the last visit; a column of visits_started): the visits started in the period and kept by
-- the filters, and their visitors. Rows with fewer than min_cell visitors fold into one "Other" row.
SELECT
    if(folds, '', value) AS value,
    folds AS other,
    uniqExactMerge(visitor_set) AS visitors,
    toUInt64(0) AS pageviews,
    sum(cell_visits) AS visits,
    sum(cell_bounces) AS bounces,
    sum(cell_duration) AS duration,
    '' AS country
FROM
(
    SELECT
        {visit_column:Identifier} AS value,
        uniqExactState(visitor) AS visitor_set,
        uniqExact(visitor) < {min_cell:UInt32} AS folds,
        count() AS cell_visits,
        countIf(visit_pageviews = 1) AS cell_bounces,
        sum(duration) AS cell_duration
    FROM /* include visits_started */
    GROUP BY value
)
GROUP BY value, other
