-- The engine of the events table: on a cluster, the Distributed table and the shards' local one.
SELECT name, engine_full FROM system.tables
WHERE database = 'audience' AND name IN ('events', 'events_local')
