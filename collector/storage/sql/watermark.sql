-- How far the rollups go, and the earliest hour marked for a rewrite.
SELECT max(through), count(), (SELECT min(hour) FROM audience.visit_rollup_stale),
    (SELECT count() FROM audience.visit_rollup_stale)
FROM audience.visit_rollup_through
