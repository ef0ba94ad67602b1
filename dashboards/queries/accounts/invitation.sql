-- One invitation that is neither used nor revoked, by the digest of its link's secret.
SELECT digest, email, role, sites, invited_by, created_at, expires_at
FROM audience.invitations FINAL
WHERE digest = {digest:String}
