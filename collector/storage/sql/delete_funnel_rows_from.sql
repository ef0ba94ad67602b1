-- The rows of audience.funnel_pageviews of the visits started from the hour {h} on: a turn of
-- the writer cut short may have left them past the spans it wrote.
DELETE FROM audience.funnel_pageviews WHERE hour >= {h:DateTime('UTC')}
