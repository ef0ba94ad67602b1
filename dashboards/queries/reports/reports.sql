-- The email reports not removed, of every site, oldest first.
SELECT id, site, frequency, recipients, created_by, created_at
FROM audience.email_reports FINAL
ORDER BY created_at, id
