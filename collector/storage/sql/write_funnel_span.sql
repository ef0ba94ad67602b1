-- A new version of the hours covered by the rows of a funnel's steps ({regexes}) for {site},
-- and their cells.
INSERT INTO audience.funnel_rollup_spans
    (site, steps, regexes, first_hour, through, version, cells)
SELECT {site:String}, cityHash64({regexes:Array(String)}), {regexes:Array(String)},
    {first_hour:DateTime('UTC')}, {through:DateTime('UTC')}, {version:UInt64}, 1
SETTINGS insert_deduplicate = 0
