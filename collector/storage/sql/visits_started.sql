-- The visits of the site that started in [a, b) and have a pageview; `engaged`: the visit is
-- engaged (two pageviews, or the site's threshold {engaged_ms} of engaged time).
(SELECT *, visit_pageviews >= 2 OR engaged_ms >= {engaged_ms:UInt64} AS engaged
 FROM /* include visit_summaries */
 WHERE visit_start >= {a:DateTime('UTC')} AND visit_start < {b:DateTime('UTC')}
   AND visit_pageviews > 0)
