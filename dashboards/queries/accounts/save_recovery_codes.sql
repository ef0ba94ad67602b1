-- New versions of recovery codes of an account; deleted = 1 for used or replaced ones.
INSERT INTO audience.recovery_codes (email, digest, updated_at, deleted)
SELECT {email:String}, arrayJoin({digests:Array(String)}),
    fromUnixTimestamp64Milli({updated_ms:Int64}, 'UTC'), {deleted:UInt8}
