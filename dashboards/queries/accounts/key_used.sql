-- A key was used now.
INSERT INTO audience.api_key_uses (id, used_at)
VALUES ({id:String}, fromUnixTimestamp64Milli({used_ms:Int64}, 'UTC'))
