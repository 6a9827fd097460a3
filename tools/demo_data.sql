-- fstore demo data: an e-commerce shop (customers, products, interactions) and a card issuer
-- (card transactions), generated here with a fixed seed. No downloads.
--
-- Run with psql in a database where `CREATE EXTENSION fstore` was done, after the registry:
--   psql -f tools/demo_schema.sql && fstore apply examples/demo && psql -v ON_ERROR_STOP=1 -f tools/demo_data.sql
--
-- Every value comes from setseed(0.42) and random() evaluated in a fixed order (no parallel
-- query), so two runs give the same numbers. Timestamps are relative to :anchor (midnight UTC of
-- the day you run it, by default) so that the latest values are fresh enough for the views' ttl and
-- the online store serves them; shift them all by passing -v anchor="'2024-06-01'".
--
-- The history is shaped like real feature pipelines make it:
--   * weekly snapshots over six months (customers, products), 90 days of card transactions;
--   * rows inserted in random order, not by time;
--   * corrections: about 1% of customer snapshots are re-issued two days later with the same
--     event_ts and a later created_ts (the correction wins in training sets and online);
--   * late rows: about 2% of card transactions arrive in a last batch, hours after newer ones.
\set ON_ERROR_STOP 1
\if :{?anchor}
\else
  \set anchor 'date_trunc(''day'', now() AT TIME ZONE ''UTC'') AT TIME ZONE ''UTC'''
\endif
SET max_parallel_workers_per_gather = 0;   -- random() must be called in one fixed order
SET client_min_messages = warning;
SELECT setseed(0.42);

CREATE SCHEMA IF NOT EXISTS demo;
CREATE TABLE demo.settings AS SELECT (:anchor)::timestamptz AS anchor;

-- The registry (entities, views, services) is examples/demo/*.yaml, applied before this file
-- with `fstore apply examples/demo` (tools/demo_schema.sql makes demo.interactions for it first).

-- ---------------------------------------------------------------------------------------------
-- E-commerce: 20,000 customers, 2,000 products, six months
-- ---------------------------------------------------------------------------------------------
CREATE TEMP TABLE customers AS
SELECT c AS customer_id,
       (random() * 20)::int AS start_week,                      -- signed up in week 0..20 of 26
       0.2 + random() * 1.6 AS orders_per_week,
       15 + random() * random() * 250 AS basket_eur,
       (ARRAY['books', 'electronics', 'fashion', 'games', 'garden', 'grocery', 'home', 'sports'])[1 + floor(random() * 8)::int] AS fav,
       CASE WHEN random() < 0.25 THEN 8 + (random() * 18)::int END AS churn_week   -- a quarter stop buying
  FROM generate_series(1, 20000) AS c;

CREATE TEMP TABLE customer_rows AS
SELECT k.customer_id,
       s.anchor - make_interval(days => 7 * (26 - w)) AS event_ts,
       s.anchor - make_interval(days => 7 * (26 - w)) + interval '1 hour' AS created_ts,
       greatest(0, floor(k.orders_per_week * (least(w, coalesce(k.churn_week, 99)) - k.start_week + 1)))::int AS total_purchases,
       k.basket_eur, k.fav, w, k.churn_week
  FROM customers k CROSS JOIN demo.settings s
  CROSS JOIN LATERAL generate_series(k.start_week, 26) AS w;

-- Out of order: insert in random order; the 1% corrections come after, two days late.
INSERT INTO fstore_data.customer_stats
       (customer_id, event_ts, created_ts, total_purchases, total_spent, favourite_category, days_since_last_purchase)
SELECT customer_id, event_ts, created_ts, total_purchases,
       round((total_purchases * basket_eur * (0.8 + random() * 0.4))::numeric, 2),
       CASE WHEN total_purchases = 0 THEN NULL ELSE fav END,
       CASE WHEN churn_week IS NOT NULL AND w > churn_week THEN 7 * (w - churn_week) + (random() * 6)::int
            WHEN total_purchases = 0 THEN NULL
            ELSE (random() * 10)::int END
  FROM customer_rows ORDER BY random();

INSERT INTO fstore_data.customer_stats
       (customer_id, event_ts, created_ts, total_purchases, total_spent, favourite_category, days_since_last_purchase)
SELECT customer_id, event_ts, created_ts + interval '2 days', total_purchases,
       round((total_purchases * basket_eur * 0.9)::numeric, 2),     -- refunds booked: the corrected value
       CASE WHEN total_purchases = 0 THEN NULL ELSE fav END,
       CASE WHEN churn_week IS NOT NULL AND w > churn_week THEN 7 * (w - churn_week) ELSE 3 END
  FROM customer_rows WHERE (customer_id * 31 + w) % 100 = 0 AND w < 26;   -- corrections are never in the future

-- Churn labels: at three observation dates, did the customer stop buying within the next 30 days?
CREATE TABLE demo.churn_labels AS
SELECT k.customer_id,
       s.anchor - make_interval(days => d) AS event_timestamp,
       (k.churn_week IS NOT NULL
        AND s.anchor - make_interval(days => 7 * (26 - k.churn_week)) >  s.anchor - make_interval(days => d)
        AND s.anchor - make_interval(days => 7 * (26 - k.churn_week)) <= s.anchor - make_interval(days => d - 30)) AS churned
  FROM customers k CROSS JOIN demo.settings s CROSS JOIN (VALUES (90), (60), (30)) AS obs(d)
 WHERE 26 - k.start_week > d / 7 + 1                              -- signed up before the observation
 ORDER BY d DESC, k.customer_id;

CREATE TEMP TABLE products AS
SELECT p AS product_id,
       (ARRAY['books', 'electronics', 'fashion', 'games', 'garden', 'grocery', 'home', 'sports'])[1 + floor(random() * 8)::int] AS category,
       round((2 + random() * random() * 600)::numeric, 2) AS price,
       random() * random() * 3000 AS popularity,
       0.005 + random() * 0.08 AS conversion,
       round((2.5 + random() * 2.5)::numeric, 1) AS rating
  FROM generate_series(1, 2000) AS p;

INSERT INTO fstore_data.product_stats (product_id, event_ts, created_ts, category, price, rating, views_7d, purchases_7d)
SELECT p.product_id, s.anchor - make_interval(days => 7 * (26 - w)),
       s.anchor - make_interval(days => 7 * (26 - w)) + interval '3 hours',
       p.category,
       CASE WHEN w % 8 = 7 THEN round(p.price * 0.8, 2) ELSE p.price END,     -- a sale every eighth week
       least(5, greatest(1, p.rating + round((random() - 0.5)::numeric * 0.4, 1))),
       v, (v * p.conversion * (0.5 + random()))::int
  FROM products p CROSS JOIN demo.settings s
  CROSS JOIN LATERAL generate_series(0, 26) AS w
  CROSS JOIN LATERAL (SELECT (p.popularity * (0.6 + random() * 0.8) + 0 * w)::int AS v) AS views   -- 0 * w: once per week
 ORDER BY random();

-- 60 days of raw interactions of active customers (about 150,000 events).
INSERT INTO demo.interactions (customer_id, product_id, action, event_ts)
SELECT 1 + (random() * 19999)::int,
       1 + (random() * random() * 1999)::int,                        -- a few products are popular
       CASE WHEN r < 0.80 THEN 'view' WHEN r < 0.93 THEN 'cart' ELSE 'purchase' END,
       s.anchor - make_interval(secs => random() * 60 * 86400)
  FROM demo.settings s, generate_series(1, 150000) AS i, LATERAL (SELECT random() + 0 * i AS r) AS x;   -- 0 * i: once per event
CREATE INDEX ON demo.interactions (customer_id, event_ts);

-- ---------------------------------------------------------------------------------------------
-- Fraud: 10,000 cards, 90 days of transactions (about 270,000), 1% fraudulent
-- ---------------------------------------------------------------------------------------------
CREATE TEMP TABLE cards AS
SELECT c AS card_id, 5 + (random() * 50)::int AS txns, 10 + random() * random() * 150 AS typical_eur,
       random() < 0.03 AS compromised
  FROM generate_series(1, 10000) AS c;

CREATE TEMP TABLE txns AS
SELECT c.card_id, t.ts AS event_ts, t.fraud,
       round((CASE WHEN t.fraud THEN c.typical_eur * (3 + random() * 20) ELSE c.typical_eur * (0.2 + random() * 1.6) END)::numeric, 2) AS amount,
       CASE WHEN t.fraud THEN (ARRAY['electronics', 'online_gaming', 'cash_withdrawal', 'travel'])[1 + floor(random() * 4)::int]
            ELSE (ARRAY['grocery', 'fuel', 'restaurant', 'travel', 'electronics', 'online_gaming', 'cash_withdrawal', 'pharmacy'])[1 + floor(random() * 8)::int] END AS merchant_category,
       CASE WHEN t.fraud THEN 0.25 + random() * 0.75
            -- Drift on purpose (make demo's monitor finds it): a new device-scoring vendor in the
            -- last 14 days scores ordinary payments higher.
            WHEN t.ts > s.anchor - interval '14 days' THEN 0.1 + random() * 0.8
            ELSE random() * random() * 0.8 END AS device_risk_score,
       CASE WHEN t.fraud THEN (random() * 6)::int ELSE (random() * random() * 3)::int END AS txn_count_1h,
       n
  FROM cards c CROSS JOIN demo.settings s
  CROSS JOIN LATERAL generate_series(1, c.txns) AS n
  CROSS JOIN LATERAL (SELECT
       s.anchor - make_interval(secs => random() * 90 * 86400 + 0 * n) AS ts0,   -- 0 * n: once per transaction
       c.compromised AND random() < 0.35 AS fraud, random() < 0.75 AS at_night) AS r
  CROSS JOIN LATERAL (SELECT CASE WHEN r.fraud AND r.at_night        -- fraud happens mostly at night
                                  THEN date_trunc('day', r.ts0) + make_interval(secs => random() * 6 * 3600)
                                  ELSE r.ts0 END AS ts, r.fraud) AS t;

INSERT INTO fstore_data.card_txn (card_id, event_ts, created_ts, amount, merchant_category, hour, device_risk_score, txn_count_1h)
SELECT card_id, event_ts, event_ts + interval '2 seconds', amount, merchant_category,
       extract(hour FROM event_ts AT TIME ZONE 'UTC')::int, device_risk_score, txn_count_1h
  FROM txns WHERE (card_id + n) % 50 <> 0 ORDER BY random();
-- Late rows: the card network delivered these hours after newer transactions were stored.
INSERT INTO fstore_data.card_txn (card_id, event_ts, created_ts, amount, merchant_category, hour, device_risk_score, txn_count_1h)
SELECT card_id, event_ts, event_ts + interval '6 hours', amount, merchant_category,
       extract(hour FROM event_ts AT TIME ZONE 'UTC')::int, device_risk_score, txn_count_1h
  FROM txns WHERE (card_id + n) % 50 = 0 ORDER BY random();

-- Fraud labels: one per transaction of the last 30 days (chargebacks arrive later; older ones are settled).
CREATE TABLE demo.fraud_labels AS
SELECT card_id, event_ts AS event_timestamp, fraud AS is_fraud
  FROM txns, demo.settings s WHERE event_ts >= s.anchor - interval '30 days'
 ORDER BY event_ts, card_id;

GRANT USAGE ON SCHEMA demo TO fstore_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA demo TO fstore_reader;
ANALYZE;
