-- The visits of a funnel's period, one row each: the visit, its visitor and its pageviews in
-- [start, reach_end) that name a step of `steps`, as the sorted numbers of
-- collector/storage/sql/funnel_pageview.sql (`first_key` and `reach_key`: the numbers where those
-- seconds start); only the visits kept by the filters. Included by funnel_steps_by_visit.sql and
-- funnel_steps_by_visitor.sql.
--
-- The closed visits started in [rolled_from, rolled_to) are read from their rows in
-- audience.funnel_pageviews (schema/022), those started in [funnel_rows_from, funnel_rows_to)
-- (a visit's pageviews lie within a day of its start), but those counted from their hourly cells
-- (started in [cells_from, cells_to), whole within a day: funnel_steps_by_visit.sql); every
-- other visit from audience.events, its pageviews gathered here (funnel_event_pageviews.sql).
-- Such a pageview lies in [start, early_to) (early_to: at most a day after rolled_from; its
-- visit started before the span) or in [late_from, reach_end) (late_from: rolled_to or after;
-- its visit started after the span); two ranges, each read alone, so that the primary key skips
-- what lies between. With no span (rolled_from = rolled_to), every visit comes from the events.
(
    SELECT visit, visitor,
        arrayFilter(pageview -> pageview >= first_key AND pageview < reach_key, pageviews)
            AS pageviews
    FROM audience.funnel_pageviews
    WHERE site = {site:String} AND steps = cityHash64({steps:Array(String)})
      AND hour >= {funnel_rows_from:DateTime('UTC')}
      AND hour < {funnel_rows_to:DateTime('UTC')}
      AND NOT (hour >= {cells_from:DateTime('UTC')} AND hour < {cells_to:DateTime('UTC')}
               AND whole)
      AND /* include chosen_visits */
    UNION ALL
    SELECT visit, any(visitor) AS visitor, arraySort(groupArray(pageview)) AS pageviews
    FROM
    (
        WITH {start:DateTime('UTC')} AS events_from, {early_to:DateTime('UTC')} AS events_to
        /* include funnel_event_pageviews */
        UNION ALL
        WITH {late_from:DateTime('UTC')} AS events_from, {reach_end:DateTime('UTC')} AS events_to
        /* include funnel_event_pageviews */
    )
    GROUP BY visit
)
