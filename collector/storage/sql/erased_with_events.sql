-- Erased visitors that still have events: an erasure a restart interrupted.
SELECT DISTINCT visitor FROM audience.events
WHERE visitor IN (SELECT visitor FROM audience.erased_visitors)
