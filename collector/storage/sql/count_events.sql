SELECT count() FROM audience.events WHERE visitor = {v:UInt64}
