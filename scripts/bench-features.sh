#!/bin/bash
# Benchmarks of generate, features (against DuckDB on the same SQL) and clean; run from
# the repository root after `cargo build --release` and `pip install duckdb pandas`.
set -u
S=${S:-target/release/segmenta}
B=/tmp/b4; rm -rf $B; mkdir -p $B
t() { /usr/bin/time -f "%e s, peak %M KiB" "$@"; }
echo "== generate 300k customers (12 months)"
t $S generate --customers 300000 --seed 42 -o $B/m300 -q --json > $B/gen300.json
python3 -c "import json;m=json.load(open('$B/gen300.json'));r=m['rows'];print('rows',r,'secs',m['seconds'],'tx/s',r['transactions']/m['seconds'],'all rows/s',sum(r.values())/m['seconds'])"
echo "== features on it"
t $S features -i $B/m300 -o $B/f300 -q --json > $B/feat300.json
python3 -c "import json;m=json.load(open('$B/feat300.json'));print('customers',m['customers'],'timings',m['timings'])"
echo "== duckdb, same SQL, same files, 2 threads"
t python3 scripts/duckdb_features.py $B/m300 $B/duck300 2
echo "== features again (second run)"
t $S features -i $B/m300 -o $B/f300b -q --json | python3 -c "import json,sys;m=json.load(sys.stdin);print(m['timings'])"
t python3 scripts/duckdb_features.py $B/m300 $B/duck300b 2
echo "== generate 1M customers (1 month), features, clean"
t $S generate --customers 1000000 --months 1 --seed 42 -o $B/m1m -q --json > $B/gen1m.json
python3 -c "import json;m=json.load(open('$B/gen1m.json'));r=m['rows'];print('rows',r,'secs',m['seconds'])"
t $S features -i $B/m1m -o $B/f1m -q > /dev/null
t $S clean -i $B/f1m/features.parquet -o $B/c1m -q
t $S clean -i $B/f1m/features.parquet -o $B/c1m2 -q
echo "== realism"
python3 scripts/realism.py $B/m300 ../shared/datasets/online_retail.csv.gz
