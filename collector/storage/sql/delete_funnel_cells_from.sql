-- The hourly cells of audience.funnel_visit_cells of the visits started from the hour {h} on,
-- as their rows (delete_funnel_rows_from.sql).
DELETE FROM audience.funnel_visit_cells WHERE hour >= {h:DateTime('UTC')}
