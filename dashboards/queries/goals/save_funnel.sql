-- A new version of a funnel; deleted = 1 removes it.
INSERT INTO audience.funnels
    (site, id, name, steps, within, created_by, created_at, updated_at, deleted)
VALUES (
    {site:String},
    {id:String},
    {name:String},
    {steps:Array(String)},
    {within:String},
    {created_by:String},
    fromUnixTimestamp64Milli({created_ms:Int64}, 'UTC'),
    fromUnixTimestamp64Milli({updated_ms:Int64}, 'UTC'),
    {deleted:UInt8}
)
