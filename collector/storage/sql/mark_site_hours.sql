-- Every hour of a site's visits, to roll up again (its engaged-visit threshold changed).
INSERT INTO audience.visit_rollup_stale (site, hour)
SELECT DISTINCT site, hour FROM audience.visits WHERE site = {site:String}
