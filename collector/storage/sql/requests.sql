SELECT at, action, channel, subject, outcome, events
FROM audience.rights_requests
WHERE {all:Bool} OR subject = {s:UInt64}
ORDER BY at DESC
LIMIT {n:UInt32}
