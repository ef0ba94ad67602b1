-- One API key by its public id.
SELECT id, digest, email, name, sites, created_at, expires_at
FROM audience.api_keys FINAL
WHERE id = {id:String}
