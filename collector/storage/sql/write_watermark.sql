INSERT INTO audience.visit_rollup_through (through) VALUES ({t:DateTime('UTC')})
