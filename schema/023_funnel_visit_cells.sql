-- Whether a funnel row's visit is whole within a day: every pageview it has that names a step
-- lies before the end of its start hour plus a day (90,000 seconds after `hour`; a visit's
-- events normally lie within a day of its start, but nothing stops a tab that stays active). A
-- period that holds that hour and the day after it holds the whole visit: its hourly cell counts
-- it (below); a longer visit is read from its row.
ALTER TABLE audience.funnel_pageviews
    ADD COLUMN IF NOT EXISTS whole UInt8
        MATERIALIZED arrayMax(pageviews) < bitShiftLeft(toUInt64(toUInt32(hour) + 90000), 32);

-- The within-visit funnels' hourly cells (collector/storage/funnel_rollup.py): for each funnel's
-- steps (`steps`, as in audience.funnel_pageviews) and each hour closed visits started in, per
-- step the visitors whose visit reached it and the seconds from the step before, as states, of
-- the visits whole within a day. A funnel without filters reads the hours a period holds whole
-- here, one row per step and hour, instead of one row per visit. Written by the store owner's
-- writer from the funnel rows of the same hours, and deleted with them (an erased visitor's
-- hours are written again).
CREATE TABLE IF NOT EXISTS audience.funnel_visit_cells
(
    site LowCardinality(String),
    steps UInt64,
    hour DateTime('UTC'),
    step UInt8,
    visitors AggregateFunction(uniqCombined(15), UInt64),
    gaps AggregateFunction(quantileExactInclusive(0.5), UInt32)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (site, steps, hour, step)
SETTINGS ttl_only_drop_parts = 1;

-- Whether a span's rows have their cells: 1 from the writer that writes them. A span without
-- (a writer of before this migration still running) is as none: the dashboards read its visits
-- from audience.events, and the writer drops its rows and writes them again with their cells.
ALTER TABLE audience.funnel_rollup_spans ADD COLUMN IF NOT EXISTS cells UInt8 DEFAULT 0;

-- The funnel rows written so far have no cells: they go, with their spans, and the writer writes
-- rows and cells again (a new funnel's way: from the watermark, then back to the first visits);
-- the dashboards gather the visits' pageviews from audience.events meanwhile.
TRUNCATE TABLE IF EXISTS audience.funnel_pageviews;
TRUNCATE TABLE IF EXISTS audience.funnel_rollup_spans;
