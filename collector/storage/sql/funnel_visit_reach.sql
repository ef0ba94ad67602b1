-- What a visit of a within-visit funnel reached, from its `pageviews` (the sorted numbers of
-- funnel_pageview.sql that name a step): its `entry` (its first pageview of step 1 before
-- `end_key`, 0 for none), `from_entry` (its pageviews from the entry on that name a later step)
-- and `reached` (funnel_reached.sql: the seconds of the steps it reached, from the entry). A
-- select list, included by the writer of the funnels' hourly cells (roll_up_funnel_cells.sql)
-- and by the dashboards' within-visit funnel (dashboards/queries/funnel_steps_by_visit.sql).
arrayMin(arrayFilter(pageview -> bitTest(pageview, 0) AND pageview < end_key, pageviews))
    AS entry,
arrayFilter(later -> later >= entry AND bitAnd(later, 0xFFFE) != 0, pageviews) AS from_entry,
/* include funnel_reached */ AS reached
