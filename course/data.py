"""Seeded, deterministic datasets for fitting a line.

Every generator returns a :class:`LineData` record with ``x`` and ``y`` as
float32 NumPy arrays of shape ``(n,)``.  The named datasets are the ones the
source articles used, so their published numbers can be reproduced.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "LineData",
    "make_line",
    "tiny_line",
    "normal_line",
    "noisy_line",
    "xy_table",
    "DATASETS",
    "load",
]


@dataclass(frozen=True)
class LineData:
    """A small regression dataset: inputs ``x``, targets ``y`` and what we know of them."""

    name: str
    description: str
    x: np.ndarray
    y: np.ndarray
    true_w: float | None = None
    true_b: float | None = None
    source: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.x.shape[0])

    def __iter__(self):
        # Allows ``x, y = tiny_line()`` in a notebook.
        return iter((self.x, self.y))

    def __repr__(self) -> str:  # short: the arrays can be long
        truth = ""
        if self.true_w is not None:
            truth = f", true w={self.true_w:g}, b={self.true_b:g}"
        return f"LineData({self.name!r}, n={self.n}{truth})"


def _as_float32(values) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(values, dtype=np.float32).reshape(-1))


def make_line(
    n: int = 100,
    w: float = 2.0,
    b: float = -1.0,
    noise: float = 0.1,
    seed: int = 0,
    *,
    x_low: float = -1.0,
    x_high: float = 1.0,
    name: str | None = None,
) -> LineData:
    """``y = w·x + b + noise·N(0, 1)`` with ``x ~ U(x_low, x_high)``, from NumPy's seeded generator."""
    if int(n) < 1:
        raise ValueError(f"make_line needs at least one point, got n={n!r}")
    rng = np.random.default_rng(seed)
    x = rng.uniform(x_low, x_high, size=int(n))
    y = w * x + b + noise * rng.standard_normal(int(n))
    return LineData(
        name=name or f"make_line(n={n}, w={w:g}, b={b:g}, noise={noise:g}, seed={seed})",
        description=f"y = {w:g}x + {b:+g} + {noise:g}·N(0, 1), x ~ U({x_low:g}, {x_high:g}), n = {n}",
        x=_as_float32(x),
        y=_as_float32(y),
        true_w=float(w),
        true_b=float(b),
        source="synthetic",
    )


def tiny_line() -> LineData:
    """The six points of y = 2x − 1 on x = −1..4 (article 000)."""
    x = np.arange(-1.0, 5.0)
    return LineData(
        name="tiny_line",
        description="y = 2x − 1 on x = −1, 0, …, 4: six points, no noise (article 000)",
        x=_as_float32(x),
        y=_as_float32(2.0 * x - 1.0),
        true_w=2.0,
        true_b=-1.0,
        source="article 000",
    )


def normal_line(seed: int = 0, n: int = 100) -> LineData:
    """x ~ N(0, 1), y = 0.1x + 0.3 with no noise (article 001's TensorFlow example)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(n))
    return LineData(
        name="normal_line",
        description=f"x ~ N(0, 1), y = 0.1x + 0.3, n = {n}, seed = {seed} (article 001)",
        x=_as_float32(x),
        y=_as_float32(0.1 * x + 0.3),
        true_w=0.1,
        true_b=0.3,
        source="article 001",
    )


def noisy_line() -> LineData:
    """X = 2·U(0, 1), y = 4 + 3X + 0.1·N(0, 1), n = 100, drawn exactly as article 002 did.

    The article seeds PyTorch's generator with 42 and draws ``rand`` then
    ``randn``; we do the same (with a private generator, so the learner's
    global torch seed is left alone) to reproduce its published loss table.
    """
    import torch  # lazy: ``import course`` must stay light

    # fork_rng: draw from the global generator exactly as the article did, then
    # put the learner's own global torch state back as it was.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(42)
        X = 2 * torch.rand(100, 1)
        y = 4 + 3 * X + 0.1 * torch.randn(100, 1)
        # The article's nn.Linear(1, 1) is initialised next from the same
        # generator: keep that start so its loss table can be replayed.
        layer = torch.nn.Linear(1, 1)
        w0, b0 = float(layer.weight.item()), float(layer.bias.item())
    return LineData(
        name="noisy_line",
        description="X = 2·U(0, 1), y = 4 + 3X + 0.1·N(0, 1), n = 100, torch seed 42 (article 002)",
        x=_as_float32(X.numpy()),
        y=_as_float32(y.numpy()),
        true_w=3.0,
        true_b=4.0,
        source="article 002",
        extra={"article_w0": w0, "article_b0": b0},
    )


def xy_table() -> LineData:
    """The 15-row X/Y table of article 003 (x up to 24: badly scaled on purpose)."""
    X = [1, 2, 4, 6, 8, 10, 12, 13, 14, 16, 16, 18, 20, 22, 24]
    Y = [39, 42, 43, 46, 47, 56, 60, 59, 64, 66, 68, 72, 71, 75, 80]
    return LineData(
        name="xy_table",
        description="15 rows of X (1..24) and Y (39..80) from article 003; no known true line",
        x=_as_float32(X),
        y=_as_float32(Y),
        source="article 003",
    )


#: The named datasets, for menus and loops over "every dataset".
DATASETS = {
    "tiny_line": tiny_line,
    "normal_line": normal_line,
    "noisy_line": noisy_line,
    "xy_table": xy_table,
}


def load(name: str) -> LineData:
    """A named dataset by its name (see :data:`DATASETS`)."""
    try:
        return DATASETS[name]()
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}") from None
