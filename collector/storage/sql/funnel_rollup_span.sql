-- The start hours covered by the rows of {site}'s funnel steps {regexes}, if any.
SELECT first_hour, through
FROM audience.funnel_rollup_spans FINAL
WHERE site = {site:String} AND steps = cityHash64({regexes:Array(String)})
