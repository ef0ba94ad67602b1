-- Every API key that is not revoked, for `audience keys list`.
SELECT id, digest, email, name, created_at
FROM audience.api_keys FINAL
ORDER BY email, created_at
