-- The funnels' closed visits (collector/storage/funnel_rollup.py): what a funnel reads instead of
-- gathering the pageviews of every visit of its period from audience.events.
--
-- One row per closed visit (audience.closed_visits) with a pageview that names a step of a
-- funnel: `steps` is the cityHash64 of the steps' regular expressions (funnels with the same
-- steps share their rows, whatever their window), `hour` the hour the visit started in, and
-- `pageviews` its pageviews that name a step, as the sorted numbers of
-- collector/storage/sql/funnel_pageview.sql (second, first step named, steps named). Written by
-- the store owner's writer with the other rollups of closed visits, and again with them when
-- their hours are rewritten; `visitor` lets an erasure delete the visitor's rows.
CREATE TABLE IF NOT EXISTS audience.funnel_pageviews
(
    site LowCardinality(String),
    steps UInt64,
    hour DateTime('UTC'),
    visit UInt64,
    visitor UInt64,
    pageviews Array(UInt64)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (site, steps, hour, visit)
SETTINGS ttl_only_drop_parts = 1;

-- The start hours [first_hour, through) of the visits whose rows a funnel's steps have: a new
-- funnel starts at the watermark of the closed visits, goes forward with it and back, a few
-- hours per turn, to the first visits kept. The newest version of a (site, steps) holds.
CREATE TABLE IF NOT EXISTS audience.funnel_rollup_spans
(
    site LowCardinality(String),
    steps UInt64,
    regexes Array(String),
    first_hour DateTime('UTC'),
    through DateTime('UTC'),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (site, steps);
