-- The hourly cells of audience.funnel_visit_cells of the steps ({steps}, their cityHash64) of
-- {site}'s funnels for the visits started in [a, b).
DELETE FROM audience.funnel_visit_cells
WHERE site = {site:String} AND steps = {steps:UInt64}
  AND hour >= {a:DateTime('UTC')} AND hour < {b:DateTime('UTC')}
