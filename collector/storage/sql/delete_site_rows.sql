-- The rows of one site in one table of sites' rows (collector.storage.site_data).
DELETE FROM audience.{table:Identifier} WHERE site = {site:String}
