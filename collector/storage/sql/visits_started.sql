-- The visits of the site that started in [a, b) and have a pageview.
(SELECT * FROM /* include visit_summaries */
 WHERE visit_start >= {a:DateTime('UTC')} AND visit_start < {b:DateTime('UTC')}
   AND visit_pageviews > 0)
