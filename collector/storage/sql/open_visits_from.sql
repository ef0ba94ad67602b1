-- The earliest start of the visits still open: the watermark stops at its hour.
SELECT min(visit_start) FROM /* include visit_summaries */
WHERE visit_end >= {closed_before:DateTime('UTC')} AND visit_start >= {cut_before:DateTime('UTC')}
HAVING count() > 0
