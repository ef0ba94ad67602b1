-- A new version of an account; deleted = 1 removes it.
INSERT INTO audience.users (email, password_hash, role, sites, updated_at, deleted)
VALUES (
    {email:String},
    {password_hash:String},
    {role:String},
    {sites:Array(String)},
    fromUnixTimestamp64Milli({updated_ms:Int64}, 'UTC'),
    {deleted:UInt8}
)
