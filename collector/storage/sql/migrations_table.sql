-- Whether audience.schema_migrations exists (not before the first migration).
SELECT 1 FROM system.tables WHERE database = 'audience' AND name = 'schema_migrations'
