-- The seconds at which a group (a visit, or a visitor) reached steps 1, 2, …: from its `entry`
-- (its first pageview of step 1 in the period), a scan of `from_entry` (its pageviews from the
-- entry on that name a later step, in order; the entry's own is skipped) in which each pageview
-- fills the next step if it names it (within {window} seconds of the entry for a visitor). An
-- expression, included by funnel_steps_by_visit.sql and funnel_steps_by_visitor.sql.
--
-- Cost: the scan (a fold, one pass per position) only takes the pageviews that could fill a step:
-- those within the window, from the first that names step 2 (none before it fills any). Most
-- groups reach no step 2, and scan nothing.
arrayFold(
    (times, later) -> if(
        length(times) < n AND bitTest(later, length(times)),
        arrayPushBack(times, toUInt32(bitShiftRight(later, 32))),
        times),
    arraySlice(
        arrayFilter(
            later -> {by_visit:UInt8} = 1
                OR toUInt32(bitShiftRight(later, 32)) - toUInt32(bitShiftRight(entry, 32))
                   <= {window:UInt32},
            if(bitAnd(entry, 0xFFFE) != 0, arrayPopFront(from_entry), from_entry)
        ) AS candidates,
        arrayFirstIndex(later -> bitTest(later, 1), candidates)
    ),
    [toUInt32(bitShiftRight(entry, 32))]
)
