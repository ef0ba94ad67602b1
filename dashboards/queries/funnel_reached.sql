-- The seconds at which a group (a visit, or a visitor) reached steps 1, 2, …: from its `entry`
-- (its first pageview of step 1 in the period), a scan of `from_entry` (its pageviews from the
-- entry on that name a later step, in order; the entry's own is skipped) in which each pageview
-- fills the next step if it names it (within {window} seconds of the entry for a visitor). An
-- expression, included by funnel_steps_by_visit.sql and funnel_steps_by_visitor.sql.
arrayFold(
    (times, later) -> if(
        length(times) < n
        AND bitTest(later, length(times))
        AND ({by_visit:UInt8} = 1
             OR toUInt32(bitShiftRight(later, 32)) - times[1] <= {window:UInt32}),
        arrayPushBack(times, toUInt32(bitShiftRight(later, 32))),
        times),
    if(bitAnd(entry, 0xFFFE) != 0, arrayPopFront(from_entry), from_entry),
    [toUInt32(bitShiftRight(entry, 32))]
)
