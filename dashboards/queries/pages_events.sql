-- Entry or exit pages from the events: each visit started in the period, by the path of its
-- first or last pageview. Rows with fewer than min_cell visitors (exit pages:
-- exits) fold into one "Other" row.
SELECT
    if(folds, '', value) AS value,
    folds AS other,
    uniqExactMerge(visitor_set) AS visitors,
    toUInt64(0) AS pageviews,
    sum(cell_visits) AS visits,
    sum(cell_bounces) AS bounces,
    toUInt64(0) AS duration,
    '' AS country
FROM
(
    SELECT
        if({dimension:String} = 'entry_page', entry, exit) AS value,
        uniqExactState(visitor) AS visitor_set,
        uniqExact(visitor) AS cell_visitors,
        count() AS cell_visits,
        countIf(pageviews = 1) AS cell_bounces,
        if({fold_on_visits:UInt8}, cell_visits, cell_visitors) < {min_cell:UInt32} AS folds
    FROM
    (
        SELECT
            any(visitor) AS visitor,
            argMinIf(path, (ts, pageview_number), type = 'pageview') AS entry,
            argMaxIf(path, (ts, pageview_number), type = 'pageview') AS exit,
            countIf(type = 'pageview') AS pageviews
        FROM audience.events
        WHERE site = {site:String}
          AND ts >= {start:DateTime('UTC')} AND ts < {wide_end:DateTime('UTC')}
          AND visit_start >= {start:DateTime('UTC')} AND visit_start < {end:DateTime('UTC')}
          AND /* include chosen_visits */
        GROUP BY visit
        HAVING pageviews > 0
    )
    GROUP BY value
)
GROUP BY value, other
