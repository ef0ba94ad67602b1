-- The latest state of each delivery of the given reports, newest period first.
SELECT report, period_first, sent, attempts, last_error, attempted_at, next_attempt_at
FROM audience.email_report_deliveries FINAL
WHERE report IN {reports:Array(String)}
ORDER BY report, period_first DESC
