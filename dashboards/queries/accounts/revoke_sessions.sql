-- Sign an account out everywhere: its sessions issued before this moment are refused.
INSERT INTO audience.session_revocations (email, revoked_before)
VALUES ({email:String}, fromUnixTimestamp64Milli({before_ms:Int64}, 'UTC'))
