-- The rollup rows of the hours from {h} on, in one rollup table (an hourly one, or the daily one
-- from the day {h} is in).
DELETE FROM audience.{table:Identifier} WHERE hour >= {h:DateTime('UTC')}
