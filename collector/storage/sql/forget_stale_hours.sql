DELETE FROM audience.visit_rollup_stale
WHERE site = {s:String} AND marked <= {m:DateTime64(3, 'UTC')}
