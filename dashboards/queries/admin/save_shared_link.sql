-- A new version of a shared link; deleted = 1 revokes it.
INSERT INTO audience.shared_links
    (digest, site, name, filters, password_hash, created_by, created_at, expires_at, updated_at,
     deleted)
VALUES (
    {digest:String},
    {site:String},
    {name:String},
    {filters:String},
    {password_hash:String},
    {created_by:String},
    fromUnixTimestamp64Milli({created_ms:Int64}, 'UTC'),
    fromUnixTimestamp64Milli({expires_ms:Int64}, 'UTC'),
    fromUnixTimestamp64Milli({updated_ms:Int64}, 'UTC'),
    {deleted:UInt8}
)
