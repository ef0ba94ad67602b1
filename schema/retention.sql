-- Applied after the migrations whenever AUDIENCE_RETENTION_MONTHS differs from the table's TTL.
-- Rows expire with their whole month, so no row outlives the limit and parts drop whole.
ALTER TABLE audience.events
    MODIFY TTL toStartOfMonth(ts) + INTERVAL {retention_months} MONTH DELETE;
ALTER TABLE audience.traffic_hourly
    MODIFY TTL toStartOfMonth(hour) + INTERVAL {retention_months} MONTH DELETE;
ALTER TABLE audience.visits
    MODIFY TTL toStartOfMonth(hour) + INTERVAL {retention_months} MONTH DELETE;
ALTER TABLE audience.traffic_daily
    MODIFY TTL toStartOfMonth(hour) + INTERVAL {retention_months} MONTH DELETE;
ALTER TABLE audience.visit_rollup
    MODIFY TTL toStartOfMonth(hour) + INTERVAL {retention_months} MONTH DELETE;
ALTER TABLE audience.closed_visits
    MODIFY TTL toStartOfMonth(hour) + INTERVAL {retention_months} MONTH DELETE;
ALTER TABLE audience.visit_rollup_daily
    MODIFY TTL toStartOfMonth(hour) + INTERVAL {retention_months} MONTH DELETE;
ALTER TABLE audience.funnel_pageviews
    MODIFY TTL toStartOfMonth(hour) + INTERVAL {retention_months} MONTH DELETE;
ALTER TABLE audience.funnel_visit_cells
    MODIFY TTL toStartOfMonth(hour) + INTERVAL {retention_months} MONTH DELETE;
