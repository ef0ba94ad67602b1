SELECT DISTINCT site FROM audience.visits
WHERE hour >= {a:DateTime('UTC')} AND hour < {b:DateTime('UTC')}
