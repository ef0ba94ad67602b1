-- A funnel's steps in a period (dashboards/conversions.py): per step k, the visitors who reached
-- it and the median seconds from step k-1 to step k. {steps} are the steps' regular expressions
-- (dashboards/path_patterns.py), 2 to 8; a group is one visit ({by_visit} = 1), or one visitor
-- (by_visit = 0) whose steps must follow within {window} seconds of its first step. Only the
-- pageviews of the visits kept by the filters count.
--
-- A group enters the funnel at its first pageview of step 1 in [start, end); each later step is
-- reached at the first pageview of that step's pages after the step before (in the order of time,
-- then path; up to {reach_end}), so a pageview fills at most one step. Within a visit, the first
-- entry reaches as far as any later one could.
WITH
    {steps:Array(String)} AS steps,
    length(steps) AS n,
    toUInt32({start:DateTime('UTC')}) AS first_second,
    toUInt32({end:DateTime('UTC')}) AS end_second
SELECT
    step,
    uniqExact(group_visitor) AS visitors,
    quantileExactInclusiveIf(0.5)(reached[step] - reached[step - 1], step > 1) AS median_seconds
FROM
(
    SELECT
        any(visitor) AS group_visitor,
        -- The times at which the group reached steps 1, 2, …: a scan of its pageviews in order.
        arrayFold(
            (times, pageview) -> if(
                length(times) < n
                AND bitTest(pageview.3, length(times))
                AND if(empty(times),
                       pageview.1 >= first_second AND pageview.1 < end_second,
                       {by_visit:UInt8} = 1 OR pageview.1 - times[1] <= {window:UInt32}),
                arrayPushBack(times, pageview.1),
                times),
            arraySort(groupArray((toUInt32(ts), path, mask))),
            CAST([], 'Array(UInt32)')
        ) AS reached
    FROM
    (
        -- Bit k-1 of mask: the pageview's path is one that step k names.
        SELECT visit, visitor, ts, path,
               arraySum(arrayMap(k -> bitShiftLeft(toUInt16(1), k - 1),
                                 multiMatchAllIndices(path, steps))) AS mask
        FROM audience.events
        WHERE site = {site:String}
          AND ts >= {start:DateTime('UTC')} AND ts < {reach_end:DateTime('UTC')}
          AND type = 'pageview' AND multiMatchAny(path, steps)
          AND /* include chosen_visits */
    )
    GROUP BY if({by_visit:UInt8} = 1, visit, visitor)
    HAVING notEmpty(reached)
)
ARRAY JOIN arrayEnumerate(reached) AS step
GROUP BY step
ORDER BY step
