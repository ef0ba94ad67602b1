-- The invitations neither used nor revoked, newest first (the expired ones are left out after).
SELECT digest, email, role, sites, invited_by, created_at, expires_at
FROM audience.invitations FINAL
ORDER BY created_at DESC
