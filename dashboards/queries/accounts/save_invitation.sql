-- A new version of an invitation; deleted = 1 once it is used or revoked.
INSERT INTO audience.invitations
    (digest, email, role, sites, invited_by, created_at, expires_at, updated_at, deleted)
VALUES (
    {digest:String},
    {email:String},
    {role:String},
    {sites:Array(String)},
    {invited_by:String},
    fromUnixTimestamp64Milli({created_ms:Int64}, 'UTC'),
    fromUnixTimestamp64Milli({expires_ms:Int64}, 'UTC'),
    fromUnixTimestamp64Milli({updated_ms:Int64}, 'UTC'),
    {deleted:UInt8}
)
