-- Additions to the demo data for the browser tests: a hostile description, a tag to search for,
-- statistics to chart and a monitor to show.
SELECT fstore.create_feature_view('web_sessions', 'customer', '[
  {"name": "clicks", "type": "int4", "tags": ["clickstream", "ui-needle"], "description": "<img src=x onerror=alert(1)>"},
  {"name": "bounce", "type": "boolean", "description": "<script>alert(2)</script>"}]',
  description => '<b onmouseover=alert(3)>bold?</b>', owner => 'web-team', tags => ARRAY['clickstream']);
SELECT fstore.compute_statistics('customer_stats');
SELECT fstore.compute_statistics('card_txn');
SELECT fstore.create_monitor('amount_drift', 'card_txn:amount', 'psi', 0.2, description => 'card amounts move');
