-- segmenta's default features: one row per customer from the canonical raw tables.
--
-- Runs on Apache DataFusion inside segmenta, and unchanged on DuckDB (see
-- scripts/duckdb_features.py); it uses only ANSI SQL plus date_part. segmenta creates the
-- views it reads: `transactions`, `visits`, `wifi_sessions`, `app_events`,
-- `customers`, each holding only the rows that passed the source-level rules
-- (the others are in rejects/<table>.parquet), with canonical column names and types.
-- A source that is absent is an empty view, and the features that need it are
-- dropped from the output and reported. ${as_of} is the first instant after the
-- history (a TIMESTAMP literal); ${as_of_year} its year; ${group:NAME} the quoted,
-- comma-separated categories of group NAME in the category groups file (the
-- built-in src/features/category_groups.toml, or --category-groups FILE).
--
-- Each feature is declared below as: name | the columns it needs | its definition.
-- @feature recency_days | transactions.ts | days from the last purchase occasion not fully returned to as-of; customers with none count from their first activity
-- @feature frequency_per_month | transactions.ts | purchase occasions (distinct timestamps) not fully returned, per month of tenure; tenure runs from the first activity to as-of, at least one month
-- @feature monetary_total | transactions.amount | purchases minus the returns matched to them (see Returns below), at least 0
-- @feature avg_ticket | transactions.amount transactions.ts | monetary_total / purchase occasions not fully returned; 0 for customers with none
-- @feature visits_per_month | visits.entered_at | visits per month of tenure
-- @feature weekend_visit_share | visits.entered_at | share of visits that start on a Saturday or Sunday
-- @feature evening_visit_share | visits.entered_at | share of visits that start at 18:00 or later
-- @feature avg_dwell_minutes | visits.entered_at visits.left_at | mean minutes between entry and exit
-- @feature wifi_minutes_per_month | wifi_sessions.started_at wifi_sessions.ended_at | minutes on the mall Wi-Fi per month of tenure
-- @feature luxury_spend_share | transactions.category transactions.amount | share of (gross) purchase spend in the categories of group `luxury` (category_groups.toml)
-- @feature food_spend_share | transactions.category transactions.amount | share of (gross) purchase spend in the categories of group `food` (category_groups.toml)
-- @feature fashion_spend_share | transactions.category transactions.amount | share of (gross) purchase spend in the categories of group `fashion` (category_groups.toml)
-- @feature entertainment_spend_share | transactions.category transactions.amount | share of (gross) purchase spend in the categories of group `entertainment` (category_groups.toml)
-- @feature electronics_spend_share | transactions.category transactions.amount | share of (gross) purchase spend in the categories of group `electronics` (category_groups.toml)
-- @feature home_spend_share | transactions.category transactions.amount | share of (gross) purchase spend in the categories of group `home` (category_groups.toml)
-- @feature kids_spend_share | transactions.category transactions.amount | share of (gross) purchase spend in the categories of group `kids` (category_groups.toml)
-- @feature beauty_spend_share | transactions.category transactions.amount | share of (gross) purchase spend in the categories of group `beauty` (category_groups.toml)
-- @feature grocery_spend_share | transactions.category transactions.amount | share of (gross) purchase spend in the categories of group `grocery` (category_groups.toml)
-- @feature discount_share | transactions.discount | share of purchase lines (not returns) with a discount > 0
-- @feature coupon_redemptions | app_events.event | app events 'coupon_redeem' over the history
-- @feature app_sessions_per_month | app_events.event | app events 'open' per month of tenure
-- @feature category_diversity | transactions.category | distinct categories bought (purchase lines)
-- @feature age | customers.birth_year | year of as-of minus birth_year (NULL when birth_year is missing)
-- @feature income_monthly | customers.income_monthly | declared monthly income

WITH
-- Returns. A return is a transactions line with a negative amount (the rules stage
-- makes a `C…` invoice's amount negative). A purchase occasion is a customer's
-- distinct purchase timestamp (lines with amount >= 0). Each return is matched to the
-- customer's latest purchase occasion at or before it; a return with no such
-- occasion cancels a purchase from before the history and is left out. An
-- occasion's net is its purchases minus the returns matched to it, at least 0 (a
-- larger return also refunds purchases from before the history, which never
-- counted); it is "fully returned" when returns were matched to it and its net is
-- half a cent or less. Spend is net of matched returns, frequency counts the
-- occasions not fully returned, and recency runs from the last of them. An occasion
-- of free items (amount 0) with no return is a purchase: it counts in frequency and
-- recency, as in the lifetime histories (src/lifetime/summary.rs).
--
-- Money is summed as DECIMAL(38, 10): exact, so a customer's sums do not depend on
-- the order its lines reach the engine (which changes with the number of customer
-- buckets and with the engine), and the features are the same bytes every time.
--
-- COUNT(DISTINCT …) per customer is done as GROUP BY twice: DataFusion's distinct
-- accumulators kept a hash set per customer (11 s and 5.5 GB for 200k customers,
-- against 0.9 s and 0.3 GB this way; BENCHMARKS.md).
tx_agg AS (
  SELECT customer_id,
         MIN(ts) AS first_ts,
         SUM(CASE WHEN amount >= 0 THEN 1 ELSE 0 END) AS n_lines,
         SUM(CASE WHEN amount >= 0 THEN CAST(amount AS DECIMAL(38, 10)) ELSE 0 END) AS spend,
         SUM(CASE WHEN amount >= 0 AND category IN (${group:luxury}) THEN CAST(amount AS DECIMAL(38, 10)) ELSE 0 END) AS luxury_spend,
         SUM(CASE WHEN amount >= 0 AND category IN (${group:food}) THEN CAST(amount AS DECIMAL(38, 10)) ELSE 0 END) AS food_spend,
         SUM(CASE WHEN amount >= 0 AND category IN (${group:fashion}) THEN CAST(amount AS DECIMAL(38, 10)) ELSE 0 END) AS fashion_spend,
         SUM(CASE WHEN amount >= 0 AND category IN (${group:entertainment}) THEN CAST(amount AS DECIMAL(38, 10)) ELSE 0 END) AS entertainment_spend,
         SUM(CASE WHEN amount >= 0 AND category IN (${group:electronics}) THEN CAST(amount AS DECIMAL(38, 10)) ELSE 0 END) AS electronics_spend,
         SUM(CASE WHEN amount >= 0 AND category IN (${group:home}) THEN CAST(amount AS DECIMAL(38, 10)) ELSE 0 END) AS home_spend,
         SUM(CASE WHEN amount >= 0 AND category IN (${group:kids}) THEN CAST(amount AS DECIMAL(38, 10)) ELSE 0 END) AS kids_spend,
         SUM(CASE WHEN amount >= 0 AND category IN (${group:beauty}) THEN CAST(amount AS DECIMAL(38, 10)) ELSE 0 END) AS beauty_spend,
         SUM(CASE WHEN amount >= 0 AND category IN (${group:grocery}) THEN CAST(amount AS DECIMAL(38, 10)) ELSE 0 END) AS grocery_spend,
         SUM(CASE WHEN amount >= 0 AND discount > 0 THEN 1 ELSE 0 END) AS n_discounted
  FROM transactions
  GROUP BY customer_id
),
tx_occ AS (
  SELECT customer_id, ts, SUM(CAST(amount AS DECIMAL(38, 10))) AS gross
  FROM transactions
  WHERE amount >= 0 AND ts IS NOT NULL
  GROUP BY customer_id, ts
),
tx_ret AS (
  SELECT customer_id, ts, -SUM(CAST(amount AS DECIMAL(38, 10))) AS returned
  FROM transactions
  WHERE amount < 0 AND ts IS NOT NULL
  GROUP BY customer_id, ts
),
tx_matched AS (
  SELECT m.customer_id, m.occ_ts, SUM(m.returned) AS returned
  -- Joined with the purchase lines, not tx_occ: the latest line at or before a
  -- return is on the latest occasion, and tx_occ (aggregated once, below) is not
  -- computed a second time (DataFusion inlines CTEs).
  FROM (SELECT r.customer_id, r.ts, r.returned, MAX(o.ts) AS occ_ts
        FROM tx_ret r
        JOIN transactions o ON o.customer_id = r.customer_id AND o.amount >= 0 AND o.ts <= r.ts
        GROUP BY r.customer_id, r.ts, r.returned) m
  GROUP BY m.customer_id, m.occ_ts
),
tx_net AS (
  SELECT n.customer_id,
         SUM(GREATEST(0, n.net)) AS net_spend,
         SUM(CASE WHEN n.net > 0.005 OR n.unreturned THEN 1 ELSE 0 END) AS n_purchases,
         MAX(CASE WHEN n.net > 0.005 OR n.unreturned THEN n.ts END) AS last_ts
  -- The few matched returns on the left: engines build the left side of a join.
  FROM (SELECT o.customer_id, o.ts, o.gross - COALESCE(m.returned, 0) AS net,
               m.returned IS NULL AS unreturned
        FROM tx_matched m
        RIGHT JOIN tx_occ o ON m.customer_id = o.customer_id AND m.occ_ts = o.ts) n
  GROUP BY n.customer_id
),
tx_categories AS (
  SELECT customer_id, COUNT(*) AS n_categories
  FROM (SELECT customer_id, category FROM transactions WHERE category IS NOT NULL AND amount >= 0 GROUP BY customer_id, category) c
  GROUP BY customer_id
),
tx AS (
  SELECT a.*, n.last_ts, n.net_spend, COALESCE(n.n_purchases, 0) AS n_purchases, c.n_categories
  FROM tx_agg a
  LEFT JOIN tx_net n ON n.customer_id = a.customer_id
  LEFT JOIN tx_categories c ON c.customer_id = a.customer_id
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
-- Each per-source aggregate is referenced exactly once: engines that inline CTEs
-- (DataFusion does) would otherwise scan and aggregate a source twice.
joined AS (
  SELECT COALESCE(tx.customer_id, vi.customer_id, wi.customer_id, ap.customer_id) AS customer_id,
         LEAST(tx.first_ts, vi.first_ts, wi.first_ts, ap.first_ts) AS first_ts,
         tx.last_ts, tx.n_lines, tx.n_purchases, tx.spend, tx.net_spend, tx.luxury_spend, tx.food_spend,
         tx.fashion_spend, tx.entertainment_spend, tx.electronics_spend, tx.home_spend, tx.kids_spend, tx.beauty_spend, tx.grocery_spend,
         tx.n_discounted, tx.n_categories,
         vi.n_visits, vi.n_weekend, vi.n_evening, vi.dwell_minutes,
         wi.wifi_minutes,
         ap.n_open, ap.n_redeem
  FROM tx
  FULL JOIN vi ON vi.customer_id = tx.customer_id
  FULL JOIN wi ON wi.customer_id = COALESCE(tx.customer_id, vi.customer_id)
  FULL JOIN ap ON ap.customer_id = COALESCE(tx.customer_id, vi.customer_id, wi.customer_id)
),
t AS (
  SELECT j.*,
         GREATEST(1.0, (date_part('epoch', ${as_of}) - date_part('epoch', j.first_ts)) / 86400.0 / 30.436875) AS months
  FROM joined j
)
SELECT
  t.customer_id,
  (date_part('epoch', ${as_of}) - date_part('epoch', COALESCE(t.last_ts, t.first_ts))) / 86400.0 AS recency_days,
  COALESCE(t.n_purchases, 0) / t.months AS frequency_per_month,
  CAST(GREATEST(0, COALESCE(t.net_spend, 0)) AS DOUBLE) AS monetary_total,
  CASE WHEN t.n_purchases > 0 THEN CAST(GREATEST(0, t.net_spend) AS DOUBLE) / t.n_purchases ELSE 0 END AS avg_ticket,
  COALESCE(t.n_visits, 0) / t.months AS visits_per_month,
  CASE WHEN t.n_visits > 0 THEN CAST(t.n_weekend AS DOUBLE) / t.n_visits ELSE 0 END AS weekend_visit_share,
  CASE WHEN t.n_visits > 0 THEN CAST(t.n_evening AS DOUBLE) / t.n_visits ELSE 0 END AS evening_visit_share,
  COALESCE(t.dwell_minutes, 0) AS avg_dwell_minutes,
  COALESCE(t.wifi_minutes, 0) / t.months AS wifi_minutes_per_month,
  CASE WHEN t.spend > 0 THEN CAST(t.luxury_spend AS DOUBLE) / CAST(t.spend AS DOUBLE) ELSE 0 END AS luxury_spend_share,
  CASE WHEN t.spend > 0 THEN CAST(t.food_spend AS DOUBLE) / CAST(t.spend AS DOUBLE) ELSE 0 END AS food_spend_share,
  CASE WHEN t.spend > 0 THEN CAST(t.fashion_spend AS DOUBLE) / CAST(t.spend AS DOUBLE) ELSE 0 END AS fashion_spend_share,
  CASE WHEN t.spend > 0 THEN CAST(t.entertainment_spend AS DOUBLE) / CAST(t.spend AS DOUBLE) ELSE 0 END AS entertainment_spend_share,
  CASE WHEN t.spend > 0 THEN CAST(t.electronics_spend AS DOUBLE) / CAST(t.spend AS DOUBLE) ELSE 0 END AS electronics_spend_share,
  CASE WHEN t.spend > 0 THEN CAST(t.home_spend AS DOUBLE) / CAST(t.spend AS DOUBLE) ELSE 0 END AS home_spend_share,
  CASE WHEN t.spend > 0 THEN CAST(t.kids_spend AS DOUBLE) / CAST(t.spend AS DOUBLE) ELSE 0 END AS kids_spend_share,
  CASE WHEN t.spend > 0 THEN CAST(t.beauty_spend AS DOUBLE) / CAST(t.spend AS DOUBLE) ELSE 0 END AS beauty_spend_share,
  CASE WHEN t.spend > 0 THEN CAST(t.grocery_spend AS DOUBLE) / CAST(t.spend AS DOUBLE) ELSE 0 END AS grocery_spend_share,
  CASE WHEN t.n_lines > 0 THEN CAST(t.n_discounted AS DOUBLE) / t.n_lines ELSE 0 END AS discount_share,
  CAST(COALESCE(t.n_redeem, 0) AS DOUBLE) AS coupon_redemptions,
  COALESCE(t.n_open, 0) / t.months AS app_sessions_per_month,
  CAST(COALESCE(t.n_categories, 0) AS DOUBLE) AS category_diversity,
  CAST(${as_of_year} - c.birth_year AS DOUBLE) AS age,
  CAST(c.income_monthly AS DOUBLE) AS income_monthly
FROM t
LEFT JOIN customers c ON c.customer_id = t.customer_id
ORDER BY t.customer_id
