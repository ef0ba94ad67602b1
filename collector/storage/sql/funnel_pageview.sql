-- A pageview of audience.events as one sortable number, for a funnel whose step regular
-- expressions are `steps` (2 to 8, collector/storage/path_patterns.py): its second (bits 32-63),
-- then the lowest bit of its steps (bits 16-23: the first step it names comes first), then its
-- steps (bit k-1: the path is one that step k names). Only for a pageview whose path names a
-- step (multiMatchAny(path, steps)). The paths are matched as LowCardinality, each distinct path
-- of a block once. The one numbering of the pageviews, included (as an expression) by the writer
-- of the funnels' closed visits (roll_up_funnel.sql) and by the dashboards' funnels.
toUInt64(
    bitShiftLeft(toUInt64(toUInt32(ts)), 32)
    + bitShiftLeft(
        bitShiftLeft(toUInt64(1),
                     arrayMin(multiMatchAllIndices(toLowCardinality(path), steps)) - 1),
        16)
    + arraySum(arrayMap(k -> bitShiftLeft(toUInt64(1), k - 1),
                        multiMatchAllIndices(toLowCardinality(path), steps))))
