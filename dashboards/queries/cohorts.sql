-- The cohort retention grid (dashboards/cohorts.py): for each cohort (the week, Monday, or month,
-- in the site's time zone, of the start of a visitor's first visit, the earliest visit numbered 1)
-- starting in [cohorts_from, cohorts_to), the number of its visitors who started a visit in the
-- cohort's week or month (offset 0: the cohort's size) and in each of the `offsets` later ones.
-- Visits are those of audience.visits merged by visit (start = the first event's time, number =
-- the first event's, at least one pageview; schema/013_visit_pairs.sql), started in
-- [cohorts_from, returns_to), from their rows in [rows_from, rows_to). The (time, number) pair
-- of a row is compared as one UInt64 (time << 32 | number, the same order): min() of a tuple
-- took twice as long as the whole rest of the merge. With filters, a visitor is in a cohort when
-- its first visit is kept by them (/* include chosen_visits */, events in [wide_start, wide_end)).
SELECT
    cohort,
    offset,
    count() AS visitors
FROM
(
    SELECT
        minIf(visit_start, number = 1) AS first_start,
        if({interval:String} = 'week', toMonday(first_start, {tz:String}),
           toStartOfMonth(first_start, {tz:String})) AS cohort,
        groupUniqArray(if({interval:String} = 'week', toMonday(visit_start, {tz:String}),
                          toStartOfMonth(visit_start, {tz:String}))) AS buckets
    FROM
    (
        SELECT visitor, visit_start, number, /* include chosen_visits */ AS chosen
        FROM
        (
            SELECT
                visit,
                any(visitor) AS visitor,
                min(start) AS visit_start,
                min(bitShiftLeft(toUInt64(toUInt32(visit_number.1)), 32) + visit_number.2)
                    % 4294967296 AS number
            FROM audience.visits
            WHERE site = {site:String}
              AND hour >= {rows_from:DateTime('UTC')} AND hour < {rows_to:DateTime('UTC')}
            GROUP BY visit
            HAVING sum(pageviews) > 0
               AND visit_start >= {cohorts_from:DateTime('UTC')}
               AND visit_start < {returns_to:DateTime('UTC')}
        )
    )
    GROUP BY visitor
    -- A first visit in the cohorts' span, kept by the filters.
    HAVING countIf(number = 1) > 0
       AND first_start < {cohorts_to:DateTime('UTC')}
       AND minIf(visit_start, number = 1 AND chosen) = first_start
)
ARRAY JOIN
    arrayMap(b -> if({interval:String} = 'week', intDiv(dateDiff('day', cohort, b), 7),
                     dateDiff('month', cohort, b)), buckets) AS offset
WHERE offset >= 0 AND offset <= {offsets:UInt8}
GROUP BY cohort, offset
