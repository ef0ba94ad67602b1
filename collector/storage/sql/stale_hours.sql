SELECT site, groupUniqArray(hour), max(marked) FROM audience.visit_rollup_stale GROUP BY site
