-- Every registered site, its last version (ReplacingMergeTree on updated_at, deleted ones out).
SELECT domain, origins, timezone, respect_gpc, count_outside_gdpr, engaged_seconds
FROM audience.sites FINAL
ORDER BY domain
