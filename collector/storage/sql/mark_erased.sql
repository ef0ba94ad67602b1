-- The visitor listed as erased, with the rollup days its events counted in.
INSERT INTO audience.erased_visitors (visitor, erased_at, rollup_days)
VALUES ({v:UInt64}, now(), {d:Array(Tuple(String, String, Date))})
