-- A funnel's steps within one visit in a period (dashboards/conversions.py): per step k, the
-- visitors who reached it and the median seconds from step k-1 to step k. {steps} are the steps'
-- regular expressions (collector/storage/path_patterns.py), 2 to 8. Only the pageviews of the
-- visits kept by the filters count.
--
-- A visit enters the funnel at its first pageview of step 1 in [start, end); each later step is
-- reached at the first pageview of that step's pages after the step before, so a pageview fills
-- at most one step. Pageviews are taken in the order of time; those of one second in the order
-- of the steps (the first step each names, then the steps it names), as the funnel would have
-- them. The first entry reaches as far as any later one could.
--
-- Cost: a visit is one row of numbers (funnel_visits.sql: the closed ones read whole from their
-- funnel rows), its entry the least number of step 1, and only its pageviews that name a later
-- step are scanned.
WITH
/* include funnel_constants */
SELECT
    step,
    uniqExact(group_visitor) AS visitors,
    quantileExactInclusiveIf(0.5)(reached[step] - reached[step - 1], step > 1) AS median_seconds
FROM
(
    SELECT
        visitor AS group_visitor,
        arrayMin(arrayFilter(pageview -> bitTest(pageview, 0) AND pageview < end_key, pageviews))
            AS entry,
        arrayFilter(later -> later >= entry AND bitAnd(later, 0xFFFE) != 0, pageviews)
            AS from_entry,
        /* include funnel_reached */ AS reached
    FROM /* include funnel_visits */
    WHERE entry != 0
)
ARRAY JOIN arrayEnumerate(reached) AS step
GROUP BY step
ORDER BY step
