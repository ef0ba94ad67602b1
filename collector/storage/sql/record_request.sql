-- The rights audit log: what was asked, through which channel, what came of it.
INSERT INTO audience.rights_requests (at, action, channel, subject, outcome, events)
VALUES (now64(3), {a:String}, {c:String}, {s:UInt64}, {o:String}, {e:UInt32})
