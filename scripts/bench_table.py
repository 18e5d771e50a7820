"""Turns scripts/gpu-check.sh's JSON lines into one Markdown table (stdlib only).
Usage: python3 scripts/bench_table.py bench.jsonl [torch.jsonl] > table.md"""
import json
import sys

rows, torch = [], {}
for path in sys.argv[1:]:
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            v = json.loads(line)
            if v.get("kind") == "torch":
                torch[(v["n"], v["d"], v["k"])] = v
            elif v.get("command") == "bench":
                rows.append(v)

print("| n | d | k | cpu ms/iter | gpu ms/iter | torch ms/iter | gpu setup s | gpu vs cpu | gpu vs torch | labels equal | ARI | inertia rel diff | iters equal |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for v in rows:
    r = {x["backend"]: x for x in v["results"]}
    cpu, gpu = r.get("cpu"), r.get("gpu")
    t = torch.get((v["n"], v["d"], v["k"]))
    ms = lambda o: f"{o['iter_median_s'] * 1e3:.3f}" if o else "-"
    ratio = lambda a, b: f"{a['iter_median_s'] / b['iter_median_s']:.2f}x" if a and b else "-"
    ag = v.get("agreement") or {}
    print(f"| {v['n']:,} | {v['d']} | {v['k']} | {ms(cpu)} | {ms(gpu)} | {ms(t)} | "
          f"{gpu['setup_s']:.2f} | " if gpu else f"| {v['n']:,} | {v['d']} | {v['k']} | {ms(cpu)} | - | {ms(t)} | - | ", end="")
    print(f"{ratio(cpu, gpu)} | {ratio(t, gpu)} | {ag.get('label_agreement', float('nan')):.6f} | "
          f"{ag.get('ari', float('nan')):.6f} | {ag.get('inertia_rel_diff', float('nan')):.1e} | {ag.get('iterations_equal', '-')} |")
