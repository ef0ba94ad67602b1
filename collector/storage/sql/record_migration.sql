INSERT INTO audience.schema_migrations (version, name) VALUES ({v:UInt32}, {n:String})
