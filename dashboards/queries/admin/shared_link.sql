-- One shared link that is not revoked, by the digest of its secret.
SELECT digest, site, name, filters, password_hash, created_by, created_at, expires_at
FROM audience.shared_links FINAL
WHERE digest = {digest:String}
