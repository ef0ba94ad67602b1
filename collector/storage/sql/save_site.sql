-- A site's new version (or its removal, deleted = 1).
INSERT INTO audience.sites
    (domain, origins, timezone, respect_gpc, count_outside_gdpr, engaged_seconds, updated_at,
     deleted)
VALUES ({d:String}, {o:Array(String)}, {t:String}, {g:UInt8}, {c:UInt8}, {e:UInt16},
    fromUnixTimestamp64Milli({u:Int64}, 'UTC'), {x:UInt8})
