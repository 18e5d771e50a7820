"""BG/NBD predictions at the edges of the parameter space (issue 37), from the
`lifetimes` package (scipy's hyp2f1) and, where the model has one, the closed-form
limit: with no dropout (a -> 0, or b -> infinity) BG/NBD is the NBD model, whose
expected purchases in the next h are (r + x) h / (alpha + T) and P(alive) is 1.

The first parameter set is the fit `segmenta run` makes on Online Retail as of
2011-06-01 (a = 1.8e-6, b = 3.3e8: no one drops out), where the prediction used
to take a minute. There lifetimes 0.11.3 is no reference: scipy's hyp2f1 with
b + x and c near 3.3e8 returns values that make the expected purchases negative
(-2.78 for a one-time buyer), so the test compares with the no-dropout limit,
which a dropout chance per purchase of a / (a + b) = 5e-15 leaves exact to far
below 1e-6. The second set is the 2011-12-10 fit (a at its boundary), where
lifetimes and the limit agree to 1e-11; the third the published CDNOW fit.

Writes tests/oracle/lifetime_edge_expected.json. Run from the repository root:
    pip install lifetimes
    python3 tests/oracle/lifetime_edge_oracle.py > tests/oracle/lifetime_edge_expected.json
"""
import json

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter

PARAMS = [
    {"r": 0.83, "alpha": 70.3, "a": 1.8e-6, "b": 3.3e8},
    {"r": 0.828, "alpha": 70.26, "a": 3e-12, "b": 5.4},
    {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
]
# (x, t_x, T) in days: one-time buyers, a few repeats, many, recent and old.
CUSTOMERS = [(0, 0.0, 30.0), (0, 0.0, 180.0), (1, 10.0, 40.0), (3, 100.0, 150.0),
             (5, 20.0, 300.0), (30, 170.0, 180.0), (2, 5.0, 6.0)]
HORIZON = 90.0

out = {"horizon": HORIZON, "cases": []}
for p in PARAMS:
    bg = BetaGeoFitter()
    bg.params_ = pd.Series(p)
    for x, tx, t in CUSTOMERS:
        e = float(np.ravel(bg.conditional_expected_number_of_purchases_up_to_time(HORIZON, x, tx, t))[0])
        alive = float(np.ravel(bg.conditional_probability_alive(x, tx, t))[0])
        nbd = (p["r"] + x) * HORIZON / (p["alpha"] + t)
        out["cases"].append({"params": p, "x": x, "t_x": tx, "t": t,
                             "expected_purchases": e, "p_alive": alive,
                             "no_dropout_limit": nbd})
print(json.dumps(out, indent=1))
