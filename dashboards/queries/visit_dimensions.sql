-- The labels of a visit's first-event values (schema/010_visits.sql), named as the alias
-- columns of audience.events. Included in a SELECT list over merged visits.
if(visit_number = 1, 'new', 'returning') AS visitor_type,
multiIf(visit_number = 1, '1', visit_number = 2, '2', visit_number = 3, '3',
        visit_number <= 7, '4-7', visit_number <= 14, '8-14', '15+') AS visit_bucket,
multiIf(visit_number = 1, 'first visit', days_since_last_visit = 0, 'same day',
        days_since_last_visit = 1, '1 day', days_since_last_visit <= 7, '2-7 days',
        days_since_last_visit <= 30, '8-30 days', days_since_last_visit <= 90, '31-90 days',
        'over 90 days') AS days_bucket
