-- The cohort retention grid as cohorts.sql computes it, without merging every visit: each visit's
-- events carry one visit number (the visit id is a keyed hash of the visitor, the previous visit's
-- start and the number), so a visitor's first visit is its rows of audience.visits numbered 1:
-- their earliest start, and at least one pageview among them. Its returns are the closed visits
-- listed in audience.closed_visits by the hour they started in (in [cohorts_from, rolled_to):
-- exact buckets when every week or month of the grid starts on a whole UTC hour, which the
-- reader checks) and the open visits after, merged (audience.visit_summaries, as visits_started).
-- Weeks or months are numbered from {base} (the first cohort's); a visitor's returns are a bit
-- mask of those numbers (at most 12 cohorts and 12 later: 24 bits), then shifted to start at its
-- cohort's. Filters choose the first visits; returns count whatever they saw.
SELECT
    if({interval:String} = 'week', addWeeks({base:Date}, number), addMonths({base:Date}, number))
        AS cohort,
    offset,
    sum(visitors) AS visitors
FROM
(
    -- The visitors of a cohort with the same returns counted at once: a few thousand rows,
    -- not one per visitor, to spread over the offsets.
    SELECT number, bitShiftRight(mask, number) AS returns, count() AS visitors
    FROM
    (
        SELECT
            minIf(bucket, first = 1) AS number,
            -- The first visit's own week or month: the cohort's size, whatever the lists say.
            -- (A first visit's rows may start before the first cohort: such a visitor is left out
            -- below, but a shift must not be negative meanwhile.)
            bitOr(groupBitOrIf(bitShiftLeft(toUInt64(1), greatest(bucket, 0)), first = 0),
                  bitShiftLeft(toUInt64(1), greatest(number, 0))) AS mask
        FROM
        (
            SELECT
                visitor, first, t, pageviews,
                if({interval:String} = 'week',
                   intDiv(dateDiff('day', {base:Date}, toMonday(t, {tz:String})), 7),
                   dateDiff('month', {base:Date}, toStartOfMonth(t, {tz:String}))) AS bucket
            FROM
            (
                SELECT visitor, toUInt8(1) AS first, start AS t, pageviews
                FROM audience.visits
                WHERE site = {site:String}
                  AND hour >= {rows_from:DateTime('UTC')} AND hour < {first_rows_to:DateTime('UTC')}
                  AND visit_number.2 = 1
                  AND /* include chosen_visits */
                UNION ALL
                SELECT visitor, toUInt8(0), hour, toUInt64(0)
                FROM audience.closed_visits
                WHERE site = {site:String}
                  AND hour >= {cohorts_from:DateTime('UTC')} AND hour < {rolled_to:DateTime('UTC')}
                UNION ALL
                SELECT visitor, toUInt8(0), visit_start, toUInt64(0)
                FROM audience.visit_summaries(
                    site = {site:String}, rows_from = {open_rows_from:DateTime('UTC')},
                    rows_to = {open_rows_to:DateTime('UTC')},
                    listed_from = {listed_from:DateTime('UTC')},
                    listed_to = {listed_to:DateTime('UTC')})
                WHERE visit_start >= {rolled_to:DateTime('UTC')}
                  AND visit_start < {returns_to:DateTime('UTC')}
                  AND visit_pageviews > 0
            )
        )
        GROUP BY visitor
        -- A first visit with a pageview, started in the cohorts' span (and kept by the filters).
        HAVING countIf(first = 1) > 0 AND sumIf(pageviews, first = 1) > 0
           AND minIf(t, first = 1) >= {cohorts_from:DateTime('UTC')}
           AND minIf(t, first = 1) < {cohorts_to:DateTime('UTC')}
    )
    GROUP BY number, returns
)
ARRAY JOIN range(toUInt8({offsets:UInt8} + 1)) AS offset
WHERE bitTest(returns, offset)
GROUP BY cohort, offset
