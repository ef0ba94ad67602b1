-- A funnel's steps within 7 days in a period (dashboards/conversions.py): per step k, the
-- visitors who reached it and the median seconds from step k-1 to step k. {steps} are the steps'
-- regular expressions (collector/storage/path_patterns.py), 2 to 8. Only the pageviews of the
-- visits kept by the filters count.
--
-- A visitor enters the funnel at its first pageview of step 1 in [start, end); each later step is
-- reached at the first pageview of that step's pages after the step before, within {window}
-- seconds of the entry (up to {reach_end}), so a pageview fills at most one step. Pageviews are
-- taken in the order of time; those of one second in the order of the steps (the first step
-- each names, then the steps it names). A later entry is not tried again, as in Mixpanel's and
-- Amplitude's default funnels.
--
-- Cost: a visit is one row of numbers (funnel_visits.sql: the closed ones read whole from their
-- funnel rows); a visit with neither an entry nor a later step is left out, a visitor's entry is
-- the least of its visits', and only its pageviews that name a later step are gathered and
-- sorted. A group is one visitor: its steps are counted, not made distinct.
WITH
/* include funnel_constants */
SELECT
    step,
    count() AS visitors,
    quantileExactInclusiveIf(0.5)(reached[step] - reached[step - 1], step > 1) AS median_seconds
FROM
(
    SELECT
        minIf(visit_entry, visit_entry != 0) AS entry,
        arrayFilter(later -> later >= entry, arraySort(groupArrayArray(visit_laters)))
            AS from_entry,
        /* include collector.storage:sql/funnel_reached */ AS reached
    FROM
    (
        SELECT
            visitor,
            arrayMin(arrayFilter(pageview -> bitTest(pageview, 0) AND pageview < end_key,
                                 pageviews)) AS visit_entry,
            arrayFilter(later -> bitAnd(later, 0xFFFE) != 0, pageviews) AS visit_laters
        FROM /* include funnel_visits */
        WHERE visit_entry != 0 OR notEmpty(visit_laters)
    )
    GROUP BY visitor
    HAVING entry != 0
)
ARRAY JOIN arrayEnumerate(reached) AS step
GROUP BY step
ORDER BY step
