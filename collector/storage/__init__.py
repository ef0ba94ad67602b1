"""The store and what writes to it: gateway, migrations, spool, writer, rollups, erasure,
retention, sites, cluster DDL."""
