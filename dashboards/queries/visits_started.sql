-- The visits started in [start, end) and kept by the filters, one row each, merged from its rows
-- of audience.visits (schema/010_visits.sql: a visit may have several), with its metrics and
-- dimensions. A visit's events lie within VISIT_MARGIN of its start, so its rows lie in
-- [wide_start, wide_end). Included where a query says /* include visits_started */.
(
    SELECT
        visit, visitor, visit_start, duration, visit_pageviews, entry_page, exit_page,
        first_visit_number AS visit_number, first_days_since_last_visit AS days_since_last_visit,
        first_city AS city, first_country AS country, first_operator AS operator,
        first_browser AS browser, first_browser_release AS browser_release, first_os AS os,
        first_device AS device,
        /* include visit_dimensions */
    FROM
    (
        SELECT
            visit,
            any(visitor) AS visitor,
            min(start) AS visit_start,
            dateDiff('second', min(start), max(end)) AS duration,
            sum(pageviews) AS visit_pageviews,
            argMinIfMerge(entry) AS entry_page,
            argMaxIfMerge(exit) AS exit_page,
            argMinMerge(visit_number) AS first_visit_number,
            argMinMerge(days_since_last_visit) AS first_days_since_last_visit,
            argMinMerge(city) AS first_city,
            argMinMerge(country) AS first_country,
            argMinMerge(operator) AS first_operator,
            argMinMerge(browser) AS first_browser,
            argMinMerge(browser_release) AS first_browser_release,
            argMinMerge(os) AS first_os,
            argMinMerge(device) AS first_device
        FROM audience.visits
        WHERE site = {site:String}
          AND hour >= {wide_start:DateTime('UTC')} AND hour < {wide_end:DateTime('UTC')}
          AND /* include chosen_visits */
        GROUP BY visit
        HAVING visit_start >= {start:DateTime('UTC')} AND visit_start < {end:DateTime('UTC')}
           AND visit_pageviews > 0
    )
)
