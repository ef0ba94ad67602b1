-- A new version of an API key; deleted = 1 revokes it.
INSERT INTO audience.api_keys
    (id, digest, email, name, sites, created_at, expires_at, updated_at, deleted)
VALUES (
    {id:String},
    {digest:String},
    {email:String},
    {name:String},
    {sites:Array(String)},
    fromUnixTimestamp64Milli({created_ms:Int64}, 'UTC'),
    fromUnixTimestamp64Milli({expires_ms:Int64}, 'UTC'),
    fromUnixTimestamp64Milli({updated_ms:Int64}, 'UTC'),
    {deleted:UInt8}
)
