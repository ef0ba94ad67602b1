-- Visitor rights (DESIGN section 1): who asked to be erased, and the audit log of rights requests.

-- Visitors erased at their request, by the same keyed hash as audience.events.visitor. Every writer
-- drops their events before insert, and every collector drops beacons still carrying their cookie.
-- rollup_days: (view, site, day) of the rollup rows their events counted in, which a writer
-- rebuilds once the events are gone. A cookie lives at most 13 months, so after 14 no beacon can
-- carry the id: the entry goes.
CREATE TABLE IF NOT EXISTS audience.erased_visitors
(
    visitor UInt64,
    erased_at DateTime('UTC'),
    rollup_days Array(Tuple(String, String, Date))
)
ENGINE = ReplacingMergeTree(erased_at)
ORDER BY visitor
TTL erased_at + INTERVAL 14 MONTH DELETE;

-- Rights requests, for accountability: no personal data. `subject` is a second keyed hash of the
-- visitor (it cannot be joined to the events; the DPO recomputes it from an identifier).
CREATE TABLE IF NOT EXISTS audience.rights_requests
(
    at DateTime64(3, 'UTC'),
    action LowCardinality(String),
    channel LowCardinality(String),
    subject UInt64,
    outcome LowCardinality(String),
    events UInt32
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY at
TTL toDateTime(at) + INTERVAL 36 MONTH DELETE;
