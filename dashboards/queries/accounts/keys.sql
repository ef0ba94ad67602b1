-- Every API key that is not revoked, with when it was last used (the epoch: never).
SELECT k.id AS id, k.digest AS digest, k.email AS email, k.name AS name, k.sites AS sites,
    k.created_at AS created_at, k.expires_at AS expires_at, u.used_at AS used_at
FROM (SELECT * FROM audience.api_keys FINAL) AS k
LEFT JOIN (SELECT id, max(used_at) AS used_at FROM audience.api_key_uses GROUP BY id) AS u
    ON u.id = k.id
ORDER BY email, created_at
