"""Timing helpers for the benchmark: repeat, then report median, min and max."""

from __future__ import annotations

import atexit
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field


_HOMES: list[str] = []


def scratch_home() -> str:
    """A fresh, empty home folder for one measured command (no user Jupyter config); removed at exit."""
    if not _HOMES:
        atexit.register(lambda: [shutil.rmtree(h, ignore_errors=True) for h in _HOMES])
    _HOMES.append(tempfile.mkdtemp(prefix="bench-home-"))
    return _HOMES[-1]


@dataclass
class Timing:
    name: str
    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def row(self, unit: str = "s") -> dict:
        scale = 1000.0 if unit == "ms" else 1.0
        return {"name": self.name, "unit": unit, "median": self.median * scale,
                "min": min(self.seconds) * scale, "max": max(self.seconds) * scale, "runs": len(self.seconds)}


def repeat(name: str, func, runs: int, *, warmup: int = 0) -> Timing:
    """Time ``func()`` ``runs`` times (after ``warmup`` untimed calls)."""
    for _ in range(warmup):
        func()
    timing = Timing(name)
    for _ in range(runs):
        start = time.perf_counter()
        func()
        timing.seconds.append(time.perf_counter() - start)
    return timing


def interleave(funcs: dict, runs: int) -> dict[str, Timing]:
    """Time several functions in turn, run after run, so a busy machine slows them all alike."""
    timings = {name: Timing(name) for name in funcs}
    for _ in range(runs):
        for name, func in funcs.items():
            start = time.perf_counter()
            func()
            timings[name].seconds.append(time.perf_counter() - start)
    return timings
