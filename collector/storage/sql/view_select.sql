-- A materialized view's SELECT: the one definition of its rollup, run again by a rebuild.
SELECT as_select FROM system.tables WHERE database = 'audience' AND name = {n:String}
