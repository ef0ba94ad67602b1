-- One row per breakdown and value of the visit dimensions {visit_dimensions} (entry or exit page,
-- visit number, days since the last visit) on the rollup path: the closed visits from the rollups,
-- the open ones from visits_started, their visitors counted with the rollups' sketch; the entry
-- and exit pages with the visits' engaged time on their page. Rows with fewer than min_cell
-- visitors fold into one "Other" row of their breakdown.
SELECT
    breakdown,
    if(folds, '', value) AS value,
    folds AS other,
    uniqCombinedMerge(15)(visitor_state) AS visitors,
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
        breakdown,
        value,
        visitor_state,
        finalizeAggregation(visitor_state) < {min_cell:UInt32} AS folds,
        cell_visits, cell_bounces, cell_duration, cell_engaged, cell_page_time, cell_page_times
    FROM
    (
        SELECT
            breakdown,
            value,
            uniqCombinedMergeState(15)(visitors) AS visitor_state,
            sum(visits) AS cell_visits,
            sum(bounces) AS cell_bounces,
            sum(duration) AS cell_duration,
            sum(engaged) AS cell_engaged,
            sum(page_time) AS cell_page_time,
            quantileExactInclusiveMergeState(0.5)(page_times) AS cell_page_times
        FROM /* include visit_cell_rows */
        GROUP BY breakdown, value
    )
)
GROUP BY breakdown, value, other
