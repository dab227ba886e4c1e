"""Slider latency of ``course.widgets.explore``: one move = recompute + redraw + new PNG in the widget.

The quality bar is a median of at most 50 ms for epochs ≤ 2000 and n ≤ 1000.
A move is timed from setting the slider's value (what the learner's drag
does) until the observer has recomputed the run, redrawn the moving artists
and put the PNG into the ``Image`` widget.  The *floor* is what a plain
matplotlib redraw of the same figure costs (full ``canvas.draw()`` + PNG):
the price every move would pay without cached backgrounds.

Run alone: ``.venv/bin/python -m bench.slider``.
"""

from __future__ import annotations

import json
import time

import numpy as np

from course import data
from course.widgets import explore

from .common import Timing, repeat

MAX_MS = 50.0


def _moves(explorer, name: str, values, control) -> Timing:
    """Set ``control`` to each value in turn, timing each move."""
    timing = Timing(name)
    for value in values:
        start = time.perf_counter()
        control.value = value
        timing.seconds.append(time.perf_counter() - start)
    return timing


def measure_slider_latency(n: int = 1000, epochs: int = 2000, moves: int = 60, seed: int = 0) -> dict:
    """Median/min/max ms of one slider move, for the lr and the epochs slider, and the full-redraw floor.

    The lr drag sweeps the slider's whole range up and back (so it crosses the
    stability bound and includes the first draws of new axis limits); the
    epochs drag goes from 10 to ``epochs`` and back at the explorer's lr.
    """
    d = data.make_line(n=n, seed=seed)
    explorer = explore(d, epochs=epochs)
    exponents = np.linspace(explorer.lr.min, explorer.lr.max, moves // 2)
    # Up and back without repeating the turning point: a move that changes nothing costs nothing.
    lr_values = 10.0 ** np.concatenate([exponents, exponents[-2::-1]])
    draws_before = explorer.live.full_draws
    lr_timing = _moves(explorer, f"lr slider, n={n}, epochs={epochs}", lr_values, explorer.lr)
    lr_full_draws = explorer.live.full_draws - draws_before
    explorer.lr.value = 0.5 * explorer.bound
    steps = np.linspace(10, epochs, moves // 2).round().astype(int)
    steps = np.unique(steps)
    draws_before = explorer.live.full_draws
    epochs_timing = _moves(explorer, f"epochs slider, n={n}, 10..{epochs}", np.concatenate([steps, steps[-2::-1]]),
                           explorer.epochs)
    epochs_full_draws = explorer.live.full_draws - draws_before
    floor = repeat(f"floor: full matplotlib redraw + PNG, n={n}, epochs={epochs}", explorer.live.full_redraw,
                   max(5, moves // 6))
    rows = [lr_timing.row("ms"), epochs_timing.row("ms"), floor.row("ms")]
    return {
        "rows": rows,
        "n": n,
        "epochs": epochs,
        "median_ms": lr_timing.median * 1e3,
        "min_ms": min(lr_timing.seconds) * 1e3,
        "max_ms": max(lr_timing.seconds) * 1e3,
        "epochs_median_ms": epochs_timing.median * 1e3,
        # Moves that met new axis limits and drew a new background (the slow ones, max_ms).
        "lr_moves_with_full_draw": f"{lr_full_draws}/{len(lr_timing.seconds)}",
        "epochs_moves_with_full_draw": f"{epochs_full_draws}/{len(epochs_timing.seconds)}",
        "floor_median_ms": floor.median * 1e3,
        "goal_ms": MAX_MS,
        "meets_goal": bool(max(lr_timing.median, epochs_timing.median) * 1e3 <= MAX_MS),
    }


measure = measure_slider_latency  # the name the other bench modules use


if __name__ == "__main__":
    print(json.dumps(measure_slider_latency(), indent=2))
