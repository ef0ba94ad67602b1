-- The dimensions of a visit: those of its first event (schema/010_visits.sql), named as the
-- columns of audience.events. Included in a SELECT list over merged visits (first_values).
first_values.1 AS visit_number,
first_values.2 AS days_since_last_visit,
first_values.3 AS city,
first_values.4 AS country,
first_values.5 AS operator,
first_values.6 AS browser,
concat(browser, ' ', first_values.7) AS browser_release,
first_values.8 AS os,
first_values.9 AS device,
if(visit_number = 1, 'new', 'returning') AS visitor_type,
multiIf(visit_number = 1, '1', visit_number = 2, '2', visit_number = 3, '3',
        visit_number <= 7, '4-7', visit_number <= 14, '8-14', '15+') AS visit_bucket,
multiIf(visit_number = 1, 'first visit', days_since_last_visit = 0, 'same day',
        days_since_last_visit = 1, '1 day', days_since_last_visit <= 7, '2-7 days',
        days_since_last_visit <= 30, '8-30 days', days_since_last_visit <= 90, '31-90 days',
        'over 90 days') AS days_bucket
