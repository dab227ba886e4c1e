"""The teaching cells run on the learner's own functions, with the course's reference as a fallback.

A demo after an exercise should show what *your* code does (the experiment is then
about your fit, not ours), yet the notebook must still run top to bottom before the
exercise is done: a stub raises ``NotImplementedError``, and a half-written fit may
return anything.  ``yours_or_reference`` runs the learner's function and falls back,
saying so in one line, whenever the learner's answer cannot give a result.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .reference import FitResult


def yours_or_reference(fit: Callable, fallback: Callable, x, y, *, lr: float, epochs: int,
                       w0: float = 0.0, b0: float = 0.0, name: str = "fit") -> FitResult:
    """``fit(x, y, lr, epochs, w0, b0)`` -> ``(w, b, losses)`` as a FitResult, else ``fallback``'s run.

    ``fallback`` is a reference fit taking the same data and keywords (``reference.fit_numpy``,
    ``reference.fit_torch_manual``, ...).  Values may be floats, NumPy scalars or tensors
    on any device: each is read with ``float``.
    """
    try:
        w, b, losses = fit(x, y, lr, epochs, w0, b0)
        result = FitResult(f"your {name}", float(w), float(b),
                           np.array([float(value) for value in losses], dtype=np.float64), lr, epochs)
    except Exception as error:  # any failure of the learner's code: the demo still runs, and says why
        print(f"(your {name} raised {type(error).__name__}; the course's reference runs instead)")
        return fallback(x, y, lr=lr, epochs=epochs, w0=w0, b0=b0)
    return result
