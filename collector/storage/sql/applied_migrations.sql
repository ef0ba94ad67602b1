SELECT version FROM audience.schema_migrations
