-- Visits started in the period per value of an event dimension: the value of each visit's first
-- event ({visit_column}). Included where a breakdown says /* include visit_cells */.
(
    SELECT
        value,
        sum(visits) AS cell_visits,
        sum(bounces) AS cell_bounces,
        sum(duration) AS cell_duration
    FROM /* include visit_cell_rows */
    GROUP BY value
)
