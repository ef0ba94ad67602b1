-- A new version of an email report; deleted = 1 removes it.
INSERT INTO audience.email_reports
    (id, site, frequency, recipients, created_by, created_at, updated_at, deleted)
VALUES (
    {id:String},
    {site:String},
    {frequency:String},
    {recipients:Array(String)},
    {created_by:String},
    fromUnixTimestamp64Milli({created_ms:Int64}, 'UTC'),
    fromUnixTimestamp64Milli({updated_ms:Int64}, 'UTC'),
    {deleted:UInt8}
)
