-- The start hour of the first closed visit of {site} (the rollups'), and whether there is one.
SELECT min(hour), count() FROM audience.closed_visits WHERE site = {site:String}
