-- segmenta's default features: one row per customer from the canonical raw tables.
--
-- Runs on Apache DataFusion inside segmenta, and unchanged on DuckDB (see
-- scripts/duckdb_features.py); it uses only ANSI SQL plus date_part. segmenta creates the
-- views it reads: `transactions`, `visits`, `wifi_sessions`, `app_events`,
-- `customers`, each holding only the rows that passed the source-level rules
-- (the others are in rejects/<table>.parquet), with canonical column names and types.
-- A source that is absent is an empty view, and the features that need it are
-- dropped from the output and reported. ${as_of} is the first instant after the
-- history (a TIMESTAMP literal); ${as_of_year} its year.
--
-- Each feature is declared below as: name | the columns it needs | its definition.
-- @feature recency_days | transactions.ts | days from the last purchase to as-of; customers who never bought count from their first activity
-- @feature frequency_per_month | transactions.ts | purchase occasions (distinct timestamps) per month of tenure; tenure runs from the first activity to as-of, at least one month
-- @feature monetary_total | transactions.amount | sum of amounts over the history
-- @feature avg_ticket | transactions.amount transactions.ts | monetary_total / purchase occasions; 0 for customers who never bought
-- @feature visits_per_month | visits.entered_at | visits per month of tenure
-- @feature weekend_visit_share | visits.entered_at | share of visits that start on a Saturday or Sunday
-- @feature evening_visit_share | visits.entered_at | share of visits that start at 18:00 or later
-- @feature avg_dwell_minutes | visits.entered_at visits.left_at | mean minutes between entry and exit
-- @feature wifi_minutes_per_month | wifi_sessions.started_at wifi_sessions.ended_at | minutes on the mall Wi-Fi per month of tenure
-- @feature luxury_spend_share | transactions.category transactions.amount | share of spend in category 'luxury'
-- @feature food_spend_share | transactions.category transactions.amount | share of spend in category 'food'
-- @feature discount_share | transactions.discount | share of purchase lines with a discount > 0
-- @feature coupon_redemptions | app_events.event | app events 'coupon_redeem' over the history
-- @feature app_sessions_per_month | app_events.event | app events 'open' per month of tenure
-- @feature category_diversity | transactions.category | distinct categories bought
-- @feature age | customers.birth_year | year of as-of minus birth_year (NULL when birth_year is missing)
-- @feature income_monthly | customers.income_monthly | declared monthly income

WITH
tx AS (
  SELECT customer_id,
         MIN(ts) AS first_ts,
         MAX(ts) AS last_ts,
         COUNT(*) AS n_lines,
         COUNT(DISTINCT ts) AS n_purchases,
         SUM(amount) AS spend,
         SUM(CASE WHEN category = 'luxury' THEN amount ELSE 0 END) AS luxury_spend,
         SUM(CASE WHEN category = 'food' THEN amount ELSE 0 END) AS food_spend,
         SUM(CASE WHEN discount > 0 THEN 1 ELSE 0 END) AS n_discounted,
         COUNT(DISTINCT category) AS n_categories
  FROM transactions
  GROUP BY customer_id
),
vi AS (
  SELECT customer_id,
         MIN(entered_at) AS first_ts,
         COUNT(*) AS n_visits,
         SUM(CASE WHEN date_part('dow', entered_at) IN (0, 6) THEN 1 ELSE 0 END) AS n_weekend,
         SUM(CASE WHEN date_part('hour', entered_at) >= 18 THEN 1 ELSE 0 END) AS n_evening,
         AVG(date_part('epoch', left_at) - date_part('epoch', entered_at)) / 60.0 AS dwell_minutes
  FROM visits
  GROUP BY customer_id
),
wi AS (
  SELECT customer_id,
         MIN(started_at) AS first_ts,
         SUM(date_part('epoch', ended_at) - date_part('epoch', started_at)) / 60.0 AS wifi_minutes
  FROM wifi_sessions
  GROUP BY customer_id
),
ap AS (
  SELECT customer_id,
         MIN(ts) AS first_ts,
         SUM(CASE WHEN event = 'open' THEN 1 ELSE 0 END) AS n_open,
         SUM(CASE WHEN event = 'coupon_redeem' THEN 1 ELSE 0 END) AS n_redeem
  FROM app_events
  GROUP BY customer_id
),
ids AS (
  SELECT customer_id FROM tx
  UNION SELECT customer_id FROM vi
  UNION SELECT customer_id FROM wi
  UNION SELECT customer_id FROM ap
),
base AS (
  SELECT ids.customer_id,
         LEAST(tx.first_ts, vi.first_ts, wi.first_ts, ap.first_ts) AS first_ts
  FROM ids
  LEFT JOIN tx ON tx.customer_id = ids.customer_id
  LEFT JOIN vi ON vi.customer_id = ids.customer_id
  LEFT JOIN wi ON wi.customer_id = ids.customer_id
  LEFT JOIN ap ON ap.customer_id = ids.customer_id
),
tenure AS (
  SELECT customer_id,
         first_ts,
         GREATEST(1.0, (date_part('epoch', ${as_of}) - date_part('epoch', first_ts)) / 86400.0 / 30.436875) AS months
  FROM base
)
SELECT
  t.customer_id,
  (date_part('epoch', ${as_of}) - date_part('epoch', COALESCE(tx.last_ts, t.first_ts))) / 86400.0 AS recency_days,
  COALESCE(tx.n_purchases, 0) / t.months AS frequency_per_month,
  CAST(COALESCE(tx.spend, 0) AS DOUBLE) AS monetary_total,
  CASE WHEN tx.n_purchases > 0 THEN tx.spend / tx.n_purchases ELSE 0 END AS avg_ticket,
  COALESCE(vi.n_visits, 0) / t.months AS visits_per_month,
  CASE WHEN vi.n_visits > 0 THEN CAST(vi.n_weekend AS DOUBLE) / vi.n_visits ELSE 0 END AS weekend_visit_share,
  CASE WHEN vi.n_visits > 0 THEN CAST(vi.n_evening AS DOUBLE) / vi.n_visits ELSE 0 END AS evening_visit_share,
  COALESCE(vi.dwell_minutes, 0) AS avg_dwell_minutes,
  COALESCE(wi.wifi_minutes, 0) / t.months AS wifi_minutes_per_month,
  CASE WHEN tx.spend > 0 THEN tx.luxury_spend / tx.spend ELSE 0 END AS luxury_spend_share,
  CASE WHEN tx.spend > 0 THEN tx.food_spend / tx.spend ELSE 0 END AS food_spend_share,
  CASE WHEN tx.n_lines > 0 THEN CAST(tx.n_discounted AS DOUBLE) / tx.n_lines ELSE 0 END AS discount_share,
  CAST(COALESCE(ap.n_redeem, 0) AS DOUBLE) AS coupon_redemptions,
  COALESCE(ap.n_open, 0) / t.months AS app_sessions_per_month,
  CAST(COALESCE(tx.n_categories, 0) AS DOUBLE) AS category_diversity,
  CAST(${as_of_year} - c.birth_year AS DOUBLE) AS age,
  CAST(c.income_monthly AS DOUBLE) AS income_monthly
FROM tenure t
LEFT JOIN tx ON tx.customer_id = t.customer_id
LEFT JOIN vi ON vi.customer_id = t.customer_id
LEFT JOIN wi ON wi.customer_id = t.customer_id
LEFT JOIN ap ON ap.customer_id = t.customer_id
LEFT JOIN customers c ON c.customer_id = t.customer_id
ORDER BY t.customer_id
