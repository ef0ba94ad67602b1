-- The steps (path patterns) of the funnels not removed, of every site, once each.
SELECT DISTINCT site, steps FROM audience.funnels FINAL
