-- Every account, for `audience users list`.
SELECT email, password_hash, role, sites
FROM audience.users FINAL
ORDER BY email
