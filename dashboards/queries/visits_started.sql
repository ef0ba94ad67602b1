-- The visits started in [visits_from, end) and kept by the filters, one row each with its metrics
-- and dimensions (audience.visit_summaries, schema/021_engagement.sql), merged from their rows
-- of audience.visits in [rows_from, rows_to): a visit's rows lie within VISIT_SPAN of its start.
-- On the rollup path these are the open visits, after the watermark: a visit that started before
-- it may have rows after it, and is left out as listed in audience.closed_visits
-- ([listed_from, listed_to), an empty span on the events path). Included where a query says
-- /* include visits_started */. `engaged`: the visit is engaged (two pageviews, or the site's
-- threshold {engaged_ms} of engaged time).
(
    SELECT *, visit_pageviews >= 2 OR engaged_ms >= {engaged_ms:UInt64} AS engaged
    FROM audience.visit_summaries(
        site = {site:String}, rows_from = {rows_from:DateTime('UTC')},
        rows_to = {rows_to:DateTime('UTC')}, listed_from = {listed_from:DateTime('UTC')},
        listed_to = {listed_to:DateTime('UTC')})
    WHERE visit_start >= {visits_from:DateTime('UTC')} AND visit_start < {end:DateTime('UTC')}
      AND visit_pageviews > 0
      AND /* include chosen_visits */
)
