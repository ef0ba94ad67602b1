-- Email reports of a site (dashboards/reports.py): how often (weekly, Monday to Sunday in the
-- site's time zone, or monthly) and to which team addresses. Nothing here is about a visitor.
-- Removing a report inserts a version marked deleted.
CREATE TABLE IF NOT EXISTS audience.email_reports
(
    id String,
    site String,
    frequency LowCardinality(String),
    recipients Array(String),
    created_by String,
    created_at DateTime64(3, 'UTC'),
    updated_at DateTime64(3, 'UTC'),
    deleted UInt8
)
ENGINE = ReplacingMergeTree(updated_at, deleted)
ORDER BY id;

-- The delivery of a report's period (its first day): the attempts so far, the last error and
-- when the next attempt is due, or sent = 1 once the SMTP server took it. The scheduler checks
-- this row before sending, so a period is mailed once, whatever restarts happen.
CREATE TABLE IF NOT EXISTS audience.email_report_deliveries
(
    report String,
    period_first Date,
    sent UInt8,
    attempts UInt32,
    last_error String,
    attempted_at DateTime64(3, 'UTC'),
    next_attempt_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(attempted_at)
ORDER BY (report, period_first)
TTL toDateTime(attempted_at) + INTERVAL 13 MONTH DELETE;
