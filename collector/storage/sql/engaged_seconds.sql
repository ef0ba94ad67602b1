-- A site's engaged-visit threshold in seconds (schema/021_engagement.sql): its last version's;
-- no row for a site never registered.
SELECT argMax(engaged_seconds, updated_at) AS engaged_seconds FROM audience.sites
WHERE domain = {site:String}
HAVING count() > 0
