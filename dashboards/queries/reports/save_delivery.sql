-- A new state of the delivery of a report's period (an attempt made).
INSERT INTO audience.email_report_deliveries
    (report, period_first, sent, attempts, last_error, attempted_at, next_attempt_at)
VALUES (
    {report:String},
    {period_first:Date},
    {sent:UInt8},
    {attempts:UInt32},
    {last_error:String},
    fromUnixTimestamp64Milli({attempted_ms:Int64}, 'UTC'),
    fromUnixTimestamp64Milli({next_attempt_ms:Int64}, 'UTC')
)
