-- The hourly cells of audience.funnel_visit_cells of {site}'s visits started in [a, b), for
-- every funnel.
DELETE FROM audience.funnel_visit_cells
WHERE site = {site:String} AND hour >= {a:DateTime('UTC')} AND hour < {b:DateTime('UTC')}
