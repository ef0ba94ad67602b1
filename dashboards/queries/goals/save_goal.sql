-- A new version of a goal; deleted = 1 removes it.
INSERT INTO audience.goals (site, id, name, pattern, created_by, created_at, updated_at, deleted)
VALUES (
    {site:String},
    {id:String},
    {name:String},
    {pattern:String},
    {created_by:String},
    fromUnixTimestamp64Milli({created_ms:Int64}, 'UTC'),
    fromUnixTimestamp64Milli({updated_ms:Int64}, 'UTC'),
    {deleted:UInt8}
)
