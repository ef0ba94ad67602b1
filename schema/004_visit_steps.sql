-- What each event adds to its visit, computed by the collector from the signed visitor state, so
-- that visit metrics (visits, bounces, duration, entry and exit pages) are sums over events:
--   visits     = events with event_number = 1
--   duration   = sum of since_previous (it telescopes to last event - first event of each visit)
--   bounces    = pageviews with pageview_number = 1 minus those with pageview_number = 2
--   entry page = path of the pageview with pageview_number = 1
--   exit page  = pageviews of a path minus pageviews whose previous_page is that path
-- A visit is counted in the period (and the hour) of its visit_start.
ALTER TABLE audience.events
    ADD COLUMN IF NOT EXISTS visit_start DateTime('UTC') CODEC(Delta, ZSTD(1)) AFTER engaged_ms,
    ADD COLUMN IF NOT EXISTS event_number UInt16 AFTER visit_start,
    ADD COLUMN IF NOT EXISTS since_previous UInt32 AFTER event_number,
    ADD COLUMN IF NOT EXISTS pageview_number UInt16 AFTER since_previous,
    ADD COLUMN IF NOT EXISTS previous_page UInt64 AFTER pageview_number;
