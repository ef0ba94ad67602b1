-- A funnel's steps in a period (dashboards/conversions.py): per step k, the visitors who reached
-- it and the median seconds from step k-1 to step k. {steps} are the steps' regular expressions
-- (dashboards/path_patterns.py), 2 to 8; a group is one visit ({by_visit} = 1), or one visitor
-- (by_visit = 0) whose steps must follow within {window} seconds of its first step. Only the
-- pageviews of the visits kept by the filters count.
--
-- A group enters the funnel at its first pageview of step 1 in [start, end); each later step is
-- reached at the first pageview of that step's pages after the step before (up to {reach_end}), so
-- a pageview fills at most one step. Pageviews are taken in the order of time; those of one second
-- in the order of the steps (the first step each names, then the steps it names), as the funnel
-- would have them. Within a visit, the first entry reaches as far as any later one could.
--
-- Cost: a pageview is one number (its second, then its steps), the entry an aggregate (the least
-- such number of step 1), and only the pageviews that name a later step are gathered and sorted
-- per group: a funnel whose first step is a busy page (the home page) sorts none of its views.
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
        -- The entry: the group's first pageview of step 1 in the period (0 when it has none).
        minIf(pageview, bitTest(pageview, 0) AND second >= first_second AND second < end_second)
            AS entry,
        -- The pageviews that may fill a later step, in order, from the entry on (a pageview that
        -- names step 1 alone fills none after the entry); the entry's own pageview is not one.
        arrayFilter(later -> later >= entry,
                    arraySort(groupArrayIf(pageview, bitAnd(pageview, 0xFFFE) != 0))) AS from_entry,
        if(bitAnd(entry, 0xFFFE) != 0, arrayPopFront(from_entry), from_entry) AS after_entry,
        -- The times at which the group reached steps 1, 2, …: a scan of those pageviews in order.
        arrayFold(
            (times, later) -> if(
                length(times) < n
                AND bitTest(later, length(times))
                AND ({by_visit:UInt8} = 1
                     OR toUInt32(bitShiftRight(later, 32)) - times[1] <= {window:UInt32}),
                arrayPushBack(times, toUInt32(bitShiftRight(later, 32))),
                times),
            after_entry,
            [toUInt32(bitShiftRight(entry, 32))]
        ) AS reached
    FROM
    (
        -- A pageview as one sortable number: its second (bits 32-63), then the first step it
        -- names (bits 16-19), then its steps (bit k-1: the path is one that step k names). The
        -- paths are matched as LowCardinality: each distinct path of a block once.
        SELECT visit, visitor, toUInt32(ts) AS second,
               multiMatchAllIndices(toLowCardinality(path), steps) AS named,
               bitShiftLeft(toUInt64(second), 32)
               + bitShiftLeft(toUInt64(arrayMin(named) - 1), 16)
               + arraySum(arrayMap(k -> bitShiftLeft(toUInt64(1), k - 1), named)) AS pageview
        FROM audience.events
        WHERE site = {site:String}
          AND ts >= {start:DateTime('UTC')} AND ts < {reach_end:DateTime('UTC')}
          AND type = 'pageview' AND multiMatchAny(toLowCardinality(path), steps)
          AND /* include chosen_visits */
    )
    GROUP BY if({by_visit:UInt8} = 1, visit, visitor)
    HAVING entry != 0
)
ARRAY JOIN arrayEnumerate(reached) AS step
GROUP BY step
ORDER BY step
