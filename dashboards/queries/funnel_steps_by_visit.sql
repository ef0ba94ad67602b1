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
-- Cost: the closed visits started in [cells_from, cells_to) (hours the period holds whole with
-- the day after them; none with filters) and whole within a day are read as the states of their
-- hourly cells (audience.funnel_visit_cells, schema/023), one row per step and hour; every other
-- visit is one row of numbers (funnel_visits.sql: the closed ones read whole from their funnel
-- rows), its entry the least number of step 1, and only its pageviews that name a later step are
-- scanned. Visitors are merged as the rollups' uniqCombined(15) states, exact for small counts.
WITH
/* include funnel_constants */
SELECT
    step,
    uniqCombinedMerge(15)(visitors) AS visitors,
    quantileExactInclusiveMerge(0.5)(gaps) AS median_seconds
FROM
(
    SELECT step, visitors, gaps
    FROM audience.funnel_visit_cells AS cells
    WHERE site = {site:String} AND cells.steps = cityHash64({steps:Array(String)})
      AND hour >= {cells_from:DateTime('UTC')} AND hour < {cells_to:DateTime('UTC')}
    UNION ALL
    SELECT
        step,
        uniqCombinedState(15)(group_visitor) AS visitors,
        quantileExactInclusiveStateIf(0.5)(toUInt32(reached[step] - reached[step - 1]), step > 1)
            AS gaps
    FROM
    (
        SELECT visitor AS group_visitor, /* include collector.storage:sql/funnel_visit_reach */
        FROM /* include funnel_visits */
        WHERE entry != 0
    )
    ARRAY JOIN arrayEnumerate(reached) AS step
    GROUP BY step
)
GROUP BY step
ORDER BY step
