"""Goal 4: the notebooks' way of running many full-batch Keras steps against a naive ``fit``."""

from __future__ import annotations

import numpy as np

from course import data
from course import reference as R

from .common import interleave

EPOCHS = 500


def measure(runs: int = 3) -> dict:
    d = data.tiny_line()
    results = {}

    def naive():
        model = R.build_keras_model(0.0, 0.0, lr=0.01)
        model.fit(d.x.reshape(-1, 1), d.y.reshape(-1, 1), epochs=EPOCHS, verbose=0)
        results["naive"] = [v.ravel() for v in model.get_weights()]

    def fast():
        model = R.build_keras_model(0.0, 0.0, lr=0.01)
        R.keras_steps(model, d.x, d.y, EPOCHS)
        results["fast"] = [v.ravel() for v in model.get_weights()]

    naive()  # warm up both paths: TensorFlow's first trace is not what a learner waits for twice
    fast()
    timings = interleave({"keras fit(x, y, epochs=500)": naive, "keras_steps(model, x, y, 500)": fast}, runs)
    same = all(np.allclose(a, b, rtol=1e-6, atol=1e-7) for a, b in zip(results["naive"], results["fast"]))
    if not same:
        raise AssertionError(f"the fast Keras path changed the weights: {results}")
    naive_t, fast_t = timings.values()
    return {"rows": [naive_t.row(), fast_t.row()], "keras_speedup": naive_t.median / fast_t.median,
            "keras_same_weights": same}
