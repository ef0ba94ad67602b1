-- The audience tables a retention may apply to: their partition key and engine (with its TTL).
SELECT name, partition_key, engine_full FROM system.tables
WHERE database = 'audience' AND engine LIKE '%MergeTree'
