"""Reference solutions: the same full-batch gradient descent on a line, five ways.

All five share one signature and one result record::

    fit_xxx(x, y, *, lr, epochs, w0=0.0, b0=0.0, reduction="mean") -> FitResult

so that, for the same data, start, learning rate and epochs, they agree to
float32 precision (``tests/test_reference.py`` checks it).
"""

from .numpy_style import fit_numpy, gradients
from .result import FitResult, closed_form, hessian, mse, stability_bound, REDUCTIONS
from .tf_styles import build_keras_model, fit_keras, fit_tape, keras_steps, quiet_tensorflow
from .torch_styles import default_device, fit_torch_manual, fit_torch_optim

#: The five styles in teaching order: name -> function.
STYLES = {
    "numpy": fit_numpy,
    "torch_manual": fit_torch_manual,
    "torch_optim": fit_torch_optim,
    "keras": fit_keras,
    "tape": fit_tape,
}


def fit(style: str, x, y, **settings) -> FitResult:
    """Run one style by name (see :data:`STYLES`)."""
    try:
        return STYLES[style](x, y, **settings)
    except KeyError:
        raise KeyError(f"unknown style {style!r}; choose one of {list(STYLES)}") from None


__all__ = [
    "FitResult", "STYLES", "fit", "fit_numpy", "fit_torch_manual", "fit_torch_optim", "fit_keras",
    "fit_tape", "closed_form", "stability_bound", "hessian", "mse", "gradients", "default_device",
    "build_keras_model", "keras_steps", "quiet_tensorflow", "REDUCTIONS",
]
