"""Check of notebook 4's ``make_model(w0, b0, lr)``: what the model holds, then one full-batch training run
(:func:`check_make_model`).  Every problem is a verdict, never a bare ``assert``'s traceback."""

from __future__ import annotations

# Bound at import time on purpose (see course.convert).
from builtins import Exception, abs, dict, float, getattr, isinstance, len, type

from ..convert import describe, fail, to_array, to_float
from ..mistakes import Diagnosis
from .common import _call, _fail_with, _verdict
from .fit import check_fit
from .values import check_value


def _model_problem(model, keras, lr):
    """The first thing wrong with the compiled model (a message, or a ``(message, diagnosis)``), or ``None``."""
    if not isinstance(model, keras.Sequential):
        return f"make_model should return a keras.Sequential model, but returned {describe(model)}."
    layers = [type(layer).__name__ for layer in model.layers]
    if layers != ["Dense"] or getattr(model.layers[0], "units", None) != 1:
        return f"the model should hold exactly one Dense(1) layer (after keras.Input), but holds {layers}."
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return "the model is not compiled: call model.compile(optimizer=..., loss=...)."
    if not isinstance(optimizer, keras.optimizers.SGD):
        return f"compile with keras.optimizers.SGD(learning_rate=lr), not {type(optimizer).__name__}."
    learning_rate = to_float(optimizer.learning_rate, "the optimizer's learning rate")
    if abs(learning_rate - lr) > 1e-6 * abs(lr):
        return (f"the optimizer's learning rate is {learning_rate:g}, but make_model was given lr={lr:g} "
                f"(the string 'sgd' means Keras's default rate).",
                Diagnosis("wrong_lr", dict(lr_used=learning_rate, lr=lr)))
    return None


def check_make_model(make_model, *, x, y, w0, b0, lr, epochs):
    """Look inside ``make_model(w0, b0, lr)``, then train it with ``fit`` (one full batch, in order) and
    compare with the reference NumPy run."""
    import keras

    xs, ys = to_array(x, "x"), to_array(y, "y")
    model, warned = _call(make_model, "make_model", f"w0={w0:g}, b0={b0:g}, lr={lr:g}", w0, b0, lr)
    problem = _model_problem(model, keras, float(lr))
    if isinstance(problem, tuple):
        _fail_with(_verdict([problem[0]], [problem[1]], style="keras"), warned)
    if problem:
        fail(problem)
    weights = model.get_weights()
    if len(weights) != 2:
        fail(f"the Dense layer should hold a kernel and a bias, but get_weights() gave {len(weights)} array(s): "
             "keep use_bias at its default (True).")
    kernel, bias = weights
    check_value(to_array(kernel, "the kernel")[0], w0, name="the starting kernel (w0)")
    check_value(to_array(bias, "the bias")[0], b0, name="the starting bias (b0)")
    try:
        history = model.fit(xs.reshape(-1, 1), ys.reshape(-1, 1), epochs=epochs, batch_size=xs.size, shuffle=False,
                            verbose=0)
    except Exception as error:
        fail(f"Training the model with model.fit raised {type(error).__name__}: {error}", learner_error=error)
    kernel, bias = model.get_weights()
    check_fit(to_array(kernel, "the kernel")[0], to_array(bias, "the bias")[0], history, x=xs, y=ys, lr=lr,
              epochs=epochs, w0=w0, b0=b0, style="keras")

