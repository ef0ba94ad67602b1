-- One account by e-mail, with the time before which its sessions are refused (0: never).
SELECT
    email,
    password_hash,
    role,
    sites,
    totp_nonce,
    (
        SELECT toUnixTimestamp64Milli(max(revoked_before))
        FROM audience.session_revocations
        WHERE email = {email:String}
    ) AS revoked_before_ms
FROM audience.users FINAL
WHERE email = {email:String}
