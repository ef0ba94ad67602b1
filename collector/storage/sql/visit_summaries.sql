-- The visits of a site that started in [a, b): every one of their rows lies in
-- [a, b + VISIT_SPAN) (a row is placed at the hour of its block's first event); a visit started
-- earlier may have rows in it too, and is left out by the list of the closed ones (every visit
-- that started before the watermark is closed and listed). Included by the statements below.
audience.visit_summaries(
    site = {site:String}, rows_from = {a:DateTime('UTC')}, rows_to = {rows_to:DateTime('UTC')},
    listed_from = {listed_from:DateTime('UTC')}, listed_to = {a:DateTime('UTC')})
