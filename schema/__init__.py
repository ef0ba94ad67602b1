"""ClickHouse DDL: numbered migrations ``NNN_name.sql`` and the retention clause."""
