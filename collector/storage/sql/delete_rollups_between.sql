DELETE FROM audience.{table:Identifier}
WHERE site = {s:String} AND hour >= {a:DateTime('UTC')} AND hour < {b:DateTime('UTC')}
