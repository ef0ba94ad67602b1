-- A new version of an account, every column given; deleted = 1 removes it.
INSERT INTO audience.users (email, password_hash, role, sites, totp_nonce, updated_at, deleted)
VALUES (
    {email:String},
    {password_hash:String},
    {role:String},
    {sites:Array(String)},
    {totp_nonce:String},
    fromUnixTimestamp64Milli({updated_ms:Int64}, 'UTC'),
    {deleted:UInt8}
)
