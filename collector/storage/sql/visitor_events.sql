-- Every stored field of a visitor's newest {n} events, oldest first: the right of access. The
-- columns are storage.rows.VISITOR_FIELDS, every column but the visitor's hash (a test checks).
SELECT site, ts, type, path, visit, visit_number, days_since_last_visit, engaged_ms, city,
    country, operator, browser, browser_version, os, device, consent
FROM (
    SELECT site, ts, type, path, visit, visit_number, days_since_last_visit, engaged_ms, city,
        country, operator, browser, browser_version, os, device, consent
    FROM audience.events
    WHERE visitor = {v:UInt64}
    ORDER BY ts DESC, path DESC
    LIMIT {n:UInt32}
)
ORDER BY ts, path
