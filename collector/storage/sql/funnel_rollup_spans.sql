-- The funnels' steps with rows in audience.funnel_pageviews, and the start hours they cover.
SELECT site, steps, regexes, first_hour, through, version
FROM audience.funnel_rollup_spans FINAL
