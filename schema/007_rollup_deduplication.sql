-- A batch the writer replays (a crash between its insert and the deletion of its spool segment, or
-- an insert the server committed while the writer saw an error) carries the same deduplication
-- token. audience.events drops it, but each materialized view's target table deduplicates on its
-- own: without a window it stored the replay, and the rollups counted those events twice.
ALTER TABLE audience.traffic_hourly MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE audience.visits_hourly MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE audience.traffic_daily MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE audience.visits_daily MODIFY SETTING non_replicated_deduplication_window = 10000;
