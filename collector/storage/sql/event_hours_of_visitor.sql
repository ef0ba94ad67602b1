SELECT DISTINCT site, toStartOfHour(ts) FROM audience.events WHERE visitor = {v:UInt64}
