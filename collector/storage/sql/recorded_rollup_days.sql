SELECT DISTINCT arrayJoin(rollup_days) FROM audience.erased_visitors WHERE visitor = {v:UInt64}
