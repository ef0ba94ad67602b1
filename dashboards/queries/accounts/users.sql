-- Every account, for `audience users list`.
SELECT email, password_hash, role, sites, totp_nonce
FROM audience.users FINAL
ORDER BY email
