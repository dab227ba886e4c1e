"""Goal 5 (references): how each style's time grows with the number of points."""

from __future__ import annotations

import numpy as np

from course import data
from course import reference as R

from .common import repeat

SIZES = (10**3, 10**4, 10**5, 10**6)
EPOCHS = 50


def measure(runs: int = 3, styles=("numpy", "torch_manual", "torch_optim", "keras", "tape")) -> dict:
    rows, growth = [], {}
    for style in styles:
        fit = R.STYLES[style]
        medians = []
        for n in SIZES:
            d = data.make_line(n=n, seed=1)
            lr = 0.5 * R.stability_bound(d.x)
            t = repeat(f"{style} n={n:>7} ({EPOCHS} epochs)", lambda: fit(d.x, d.y, lr=lr, epochs=EPOCHS), runs, warmup=1)
            rows.append(t.row("ms"))
            medians.append(t.median)
        # slope of log(time) against log(n) over the last decade: 1.0 is linear
        growth[style] = float(np.log10(medians[-1] / medians[-2]))
    return {"rows": rows, "reference_growth_exponent": growth}
