-- Rolled-up hours to write again: late or erased events changed their visits.
INSERT INTO audience.visit_rollup_stale (site, hour)
SELECT tupleElement(mark, 1), tupleElement(mark, 2)
FROM (SELECT arrayJoin({m:Array(Tuple(String, DateTime('UTC')))}) AS mark)
