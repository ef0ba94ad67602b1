-- The latest administrative actions, newest first.
SELECT at, actor, action, target, detail
FROM audience.admin_audit
ORDER BY at DESC
LIMIT {limit:UInt32}
