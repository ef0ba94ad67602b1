-- The shared links of a site that are not revoked, newest first.
SELECT digest, site, name, filters, password_hash, created_by, created_at, expires_at
FROM audience.shared_links FINAL
WHERE site = {site:String}
ORDER BY created_at DESC
