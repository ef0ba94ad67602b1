-- The hourly cells of steps ({steps}, their cityHash64) that no funnel of {site} has any more.
DELETE FROM audience.funnel_visit_cells WHERE site = {site:String} AND steps = {steps:UInt64}
