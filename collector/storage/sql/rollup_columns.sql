-- The columns a rollup table is inserted with, in order.
SELECT name FROM system.columns
WHERE database = 'audience' AND table = {t:String} AND default_kind != 'ALIAS'
ORDER BY position
