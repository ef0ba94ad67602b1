-- KPI totals from the events: events in [start, end) for visitors and pageviews (those of the
-- visits kept by the filters), the visits started in [start, end) for the visit metrics.
WITH
    traffic AS (
        SELECT
            uniqExact(visitor) AS visitors,
            countIf(type = 'pageview') AS pageviews,
            uniqExactIf(visitor, visit_number > 1) AS returning
        FROM audience.events
        WHERE site = {site:String}
          AND ts >= {start:DateTime('UTC')} AND ts < {end:DateTime('UTC')}
          AND /* include chosen_visits */
    ),
    visit_totals AS /* include visit_totals */
SELECT visitors, pageviews, returning, visits, bounces, duration, engaged
FROM traffic, visit_totals
