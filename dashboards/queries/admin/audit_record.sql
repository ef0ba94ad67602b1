-- One administrative action (dashboards.audit).
INSERT INTO audience.admin_audit (at, actor, action, target, detail)
VALUES (
    fromUnixTimestamp64Milli({at_ms:Int64}, 'UTC'),
    {actor:String},
    {action:String},
    {target:String},
    {detail:String}
)
