-- The closed visits started in [a, b), listed so that the readers leave them out of the open ones.
INSERT INTO audience.closed_visits (site, hour, visit, visitor)
SELECT {site:String}, toStartOfHour(visit_start), visit, visitor
FROM /* include visits_started */
SETTINGS insert_deduplicate = 0
