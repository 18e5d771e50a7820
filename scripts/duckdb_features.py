"""The peer for `segmenta features`: the same feature SQL (src/features/features.sql)
on DuckDB, over the same generated mall, with the same source rules (reject tagging,
rejects written to Parquet, features written to Parquet).

    pip install duckdb
    python3 scripts/duckdb_features.py MALL_DIR OUT_DIR [threads]

Prints one JSON line: seconds, rows, peak RSS (MiB).
"""
import json
import resource
import sys
import time
from pathlib import Path

import duckdb

mall, out = Path(sys.argv[1]), Path(sys.argv[2])
threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
out.mkdir(parents=True, exist_ok=True)
meta = json.loads((mall / "mall.json").read_text())
as_of, since = meta["window_end"], meta["window_start"]
sql = (Path(__file__).resolve().parent.parent / "src/features/features.sql").read_text()
sql = sql.replace("${as_of_year}", as_of[:4]).replace("${as_of}", f"TIMESTAMP '{as_of} 00:00:00'")
# ${group:NAME}: the categories of the built-in category_groups.toml (outside comments).
import tomllib
groups = tomllib.loads((Path(__file__).resolve().parent.parent / "src/features/category_groups.toml").read_text())
sql = "".join(
    line if line.lstrip().startswith("--") else
    __import__("re").sub(r"\$\{group:(\w+)\}", lambda m: ", ".join("'" + c.replace("'", "''") + "'" for c in groups[m.group(1)]) or "NULL", line)
    for line in sql.splitlines(keepends=True))

t0 = time.perf_counter()
con = duckdb.connect()
con.execute(f"SET threads = {threads}")
win = lambda c: f"({c} >= TIMESTAMP '{as_of}' OR {c} < TIMESTAMP '{since}')"
con.execute(f"CREATE VIEW raw_customers AS SELECT * FROM read_parquet('{mall}/customers.parquet')")
con.execute("""CREATE VIEW tagged_customers AS SELECT *, CASE WHEN customer_id IS NULL THEN 'missing_customer_id'
  WHEN ROW_NUMBER() OVER (PARTITION BY customer_id) > 1 THEN 'duplicate_customer' END AS reason FROM raw_customers""")
con.execute("CREATE VIEW customers AS SELECT customer_id, birth_year, gender, income_monthly, signup_date FROM tagged_customers WHERE reason IS NULL")
con.execute(f"""CREATE VIEW tagged_transactions AS
  SELECT r.*, CASE WHEN r.customer_id IS NULL THEN 'missing_customer_id' WHEN r.ts IS NULL THEN 'missing_ts'
    WHEN r.amount IS NULL THEN 'missing_amount' WHEN ABS(r.amount) > 100000 THEN 'absurd_amount'
    WHEN {win('r.ts')} THEN 'ts_out_of_window' WHEN k.customer_id IS NULL THEN 'unknown_customer'
    WHEN r.dup > 1 THEN 'duplicate_line' END AS reason
  FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY customer_id, ts, store_id, category, amount, discount) AS dup
        FROM read_parquet('{mall}/transactions.parquet')) r
  LEFT JOIN (SELECT DISTINCT customer_id FROM customers) k ON k.customer_id = r.customer_id""")
con.execute("CREATE VIEW transactions AS SELECT customer_id, ts, amount, store_id, category, discount FROM tagged_transactions WHERE reason IS NULL")
for t, a, b in [("visits", "entered_at", "left_at"), ("wifi_sessions", "started_at", "ended_at")]:
    con.execute(f"""CREATE VIEW tagged_{t} AS SELECT r.*, CASE WHEN r.customer_id IS NULL THEN 'missing_customer_id'
      WHEN r.{a} IS NULL OR r.{b} IS NULL THEN 'missing_ts' WHEN r.{b} < r.{a} THEN 'exit_before_entry'
      WHEN {win('r.' + a)} THEN 'ts_out_of_window' WHEN k.customer_id IS NULL THEN 'unknown_customer' END AS reason
      FROM read_parquet('{mall}/{t}.parquet') r LEFT JOIN (SELECT DISTINCT customer_id FROM customers) k ON k.customer_id = r.customer_id""")
    con.execute(f"CREATE VIEW {t} AS SELECT * EXCLUDE (reason) FROM tagged_{t} WHERE reason IS NULL")
con.execute(f"""CREATE VIEW tagged_app_events AS SELECT r.*, CASE WHEN r.customer_id IS NULL THEN 'missing_customer_id'
  WHEN r.ts IS NULL THEN 'missing_ts' WHEN {win('r.ts')} THEN 'ts_out_of_window' WHEN k.customer_id IS NULL THEN 'unknown_customer' END AS reason
  FROM read_parquet('{mall}/app_events.parquet') r LEFT JOIN (SELECT DISTINCT customer_id FROM customers) k ON k.customer_id = r.customer_id""")
con.execute("CREATE VIEW app_events AS SELECT * EXCLUDE (reason) FROM tagged_app_events WHERE reason IS NULL")
counts = {}
for t in ["customers", "transactions", "visits", "wifi_sessions", "app_events"]:
    counts[t] = con.execute(f"SELECT reason, COUNT(*) FROM tagged_{t} GROUP BY reason").fetchall()
    con.execute(f"COPY (SELECT * FROM tagged_{t} WHERE reason IS NOT NULL) TO '{out}/rejects_{t}.parquet' (FORMAT parquet, COMPRESSION zstd)")
con.execute(f"COPY ({sql}) TO '{out}/features.parquet' (FORMAT parquet, COMPRESSION zstd)")
rows = con.execute(f"SELECT COUNT(*) FROM read_parquet('{out}/features.parquet')").fetchone()[0]
secs = time.perf_counter() - t0
print(json.dumps({"peer": "duckdb " + duckdb.__version__, "threads": threads, "seconds": round(secs, 3), "customers": rows,
                  "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                  "rejected": {t: {str(k): v for k, v in c} for t, c in counts.items()}}))
