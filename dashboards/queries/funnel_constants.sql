-- The constants of a funnel's query, after its WITH: the steps' regular expressions, their number,
-- and the pageview numbers (collector/storage/sql/funnel_pageview.sql) where the seconds of the
-- period's start, its end and the end of its reach start.
    {steps:Array(String)} AS steps,
    length(steps) AS n,
    bitShiftLeft(toUInt64(toUInt32({start:DateTime('UTC')})), 32) AS first_key,
    bitShiftLeft(toUInt64(toUInt32({end:DateTime('UTC')})), 32) AS end_key,
    bitShiftLeft(toUInt64(toUInt32({reach_end:DateTime('UTC')})), 32) AS reach_key
