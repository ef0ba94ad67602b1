-- A new version of an annotation; deleted = 1 removes it.
INSERT INTO audience.annotations
    (id, site, day, text, author, shared, created_at, updated_at, deleted)
VALUES (
    {id:String},
    {site:String},
    {day:Date},
    {text:String},
    {author:String},
    {shared:UInt8},
    fromUnixTimestamp64Milli({created_ms:Int64}, 'UTC'),
    fromUnixTimestamp64Milli({updated_ms:Int64}, 'UTC'),
    {deleted:UInt8}
)
