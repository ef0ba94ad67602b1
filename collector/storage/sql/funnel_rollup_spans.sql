-- The funnels' steps with rows in audience.funnel_pageviews, the start hours they cover, and
-- whether their hourly cells are written with them (schema/023).
SELECT site, steps, regexes, first_hour, through, version, cells
FROM audience.funnel_rollup_spans FINAL
