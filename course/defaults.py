"""The defaults that differ between PyTorch, Keras and our NumPy code, read from the installed versions.

Nothing here is typed in from documentation: every value is found by
introspecting the installed libraries (a signature default, an attribute of a
freshly built object) or, where only running can tell, by running them (the
batch size ``Model.fit`` uses is counted from the batches a model receives).
Rerun after an upgrade and the table follows the new versions.

    rows = framework_defaults()          # list of dicts, one per setting
    print(as_text(rows))                 # or: python -m course.defaults
"""

from __future__ import annotations

import inspect
import re

import numpy as np

#: The columns of every row, in display order.
FIELDS = ("setting", "pytorch", "keras", "numpy/ours", "why it matters")


def _default(func, name):
    """The default of parameter ``name`` of ``func``, or ``"required"`` when it has none."""
    parameter = inspect.signature(func).parameters[name]
    return "required" if parameter.default is inspect.Parameter.empty else parameter.default


def _rejection(make) -> str:
    """Run ``make()``, which should fail, and return the error it raised as ``Type: message``."""
    try:
        make()
    except Exception as error:  # noqa: BLE001 - any rejection is the answer we want to show
        return f"{type(error).__name__}: {error}"
    return "accepted"


def _float32_value(variable) -> float:
    """A Keras float32 variable as the float it was set from (0.009999999776 → 0.01)."""
    return round(float(np.asarray(variable)), 9)


def keras_fit_batch_sizes(n_samples: int = 100) -> list[int]:
    """The batch sizes ``Model.fit`` feeds a model for one epoch on ``n_samples`` with every default
    (``Model.fit``'s signature says ``batch_size=None``; the size it then uses is only visible by running it)."""
    return keras_fit_batches(n_samples)[None]


_recorder: list = []  # the batch-recording model of keras_fit_batches, built once


def keras_fit_batches(n_samples: int, batch_sizes=(None,)) -> dict:
    """For each ``batch_size``, the batch sizes one epoch of ``Model.fit(..., batch_size=batch_size)`` feeds
    a model on ``n_samples`` points (``None``: left out).

    A layer records the leading dimension of each batch it sees (the model runs eagerly, so the recording
    happens once per step). One recording model serves every call: a call costs one short eager ``fit``
    per size, and the sizes do not depend on the weights it trains or on shuffling."""
    from .reference import quiet_tensorflow

    quiet_tensorflow()
    import keras

    if not _recorder:
        seen: list[int] = []

        class RecordBatch(keras.layers.Layer):
            def call(self, inputs):
                if inputs.shape[0] is not None:  # skip the symbolic call made while building
                    seen.append(int(inputs.shape[0]))
                return inputs

        model = keras.Sequential([keras.Input(shape=(1,)), RecordBatch(), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse", run_eagerly=True)
        _recorder.extend([model, seen])
    model, seen = _recorder
    x = np.zeros((int(n_samples), 1), np.float32)
    found = {}
    for batch_size in batch_sizes:
        seen.clear()
        model.fit(x, x, epochs=1, batch_size=batch_size, shuffle=False, verbose=0)
        found[batch_size] = list(seen)
    return found


def _torch_linear_ranges(n_outputs: int = 20_000) -> tuple[str, float, float]:
    """The init function ``nn.Linear`` calls on its weight, and the largest |w| and |b| it draws for one input.

    A layer with one input and many outputs has fan-in 1, like ``nn.Linear(1, 1)``,
    so its weights show the range a one-input line starts from.  Drawn from a
    forked generator: the caller's torch seed is left as it was.
    """
    import torch
    from torch import nn

    source = inspect.getsource(nn.Linear.reset_parameters)
    called = re.search(r"init\.(\w+)\(\s*self\.weight", source)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        layer = nn.Linear(1, n_outputs)
    return (
        called.group(1) if called else "unknown",
        float(layer.weight.detach().abs().max()),
        float(layer.bias.detach().abs().max()),
    )


def keras_kernel_limit(fan_in: int = 1, fan_out: int = 1) -> float:
    """Half-width of the uniform range ``Dense``'s default kernel initialiser draws from, for these fans.

    Read from the initialiser itself (Glorot uniform is ``VarianceScaling``
    with ``scale``, ``mode`` and a uniform ``distribution``): the range is
    ``±sqrt(3·scale / fan)``.  For ``Dense(1)`` on one input that is ±√3.
    """
    from .reference import quiet_tensorflow

    quiet_tensorflow()
    import keras

    initializer = keras.layers.Dense(1).kernel_initializer
    if getattr(initializer, "distribution", None) != "uniform":
        raise ValueError(f"Dense's default kernel initialiser is no longer uniform: {initializer!r}")
    fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[initializer.mode]
    return float(np.sqrt(3.0 * initializer.scale / fan))


def framework_defaults() -> list[dict]:
    """One row per setting whose default differs between the frameworks (plus the versions read).

    Each row is a dict with the keys of :data:`FIELDS`; the three framework
    columns hold the values themselves (numbers stay numbers).
    """
    from .reference import fit_numpy, quiet_tensorflow

    tf = quiet_tensorflow()
    import keras
    import torch
    from torch import nn

    keras_sgd = keras.optimizers.SGD()
    keras_sgd_by_name = keras.optimizers.get("sgd")
    keras_mse = keras.losses.MeanSquaredError()
    dense = keras.layers.Dense(1)
    kernel_init, bias_init = dense.kernel_initializer, dense.bias_initializer
    torch_init, torch_w_max, torch_b_max = _torch_linear_ranges()
    fit_batches = keras_fit_batch_sizes(100)
    torch_adam_eps = _default(torch.optim.Adam, "eps")
    keras_adam_eps = _default(keras.optimizers.Adam, "epsilon")

    rows = [
        {
            "setting": "version",
            "pytorch": torch.__version__,
            "keras": f"{keras.__version__} (TensorFlow {tf.__version__})",
            "numpy/ours": np.__version__,
            "why it matters": "defaults move between releases; this table is read from these versions",
        },
        {
            "setting": "SGD learning rate when none is given",
            "pytorch": _default(torch.optim.SGD, "lr"),
            "keras": _float32_value(keras_sgd.learning_rate),
            "numpy/ours": _default(fit_numpy, "lr"),
            "why it matters": (
                f"compile(optimizer='sgd') means lr {_float32_value(keras_sgd_by_name.learning_rate):g}: "
                "article 000's Keras run used it without saying so"
            ),
        },
        {
            "setting": "learning-rate argument name",
            "pytorch": "lr",
            "keras": "learning_rate",
            "numpy/ours": "lr",
            "why it matters": (
                "the other spelling fails: torch.optim.SGD(learning_rate=…) → "
                + _rejection(lambda: torch.optim.SGD([torch.zeros(1, requires_grad=True)], learning_rate=0.5))
                + "; keras.optimizers.SGD(lr=…) → "
                + _rejection(lambda: keras.optimizers.SGD(lr=0.5))
            ),
        },
        {
            "setting": "MSE loss reduction",
            "pytorch": nn.MSELoss().reduction,
            "keras": keras_mse.reduction,
            "numpy/ours": _default(fit_numpy, "reduction"),
            "why it matters": (
                "both default to the mean; a summed loss (article 000's size_average=False) "
                "makes every gradient n times larger, so the same lr takes n times bigger steps"
            ),
        },
        {
            "setting": "points per update in fit / a training step",
            "pytorch": f"no fit(): your loop decides (DataLoader batch_size={_default(torch.utils.data.DataLoader, 'batch_size')})",
            "keras": max(fit_batches),
            "numpy/ours": "all n (full batch)",
            "why it matters": (
                f"fit(batch_size=None) on 100 points took {len(fit_batches)} steps of {fit_batches}: "
                "mini-batches, not full-batch gradient descent, unless you pass batch_size=len(x)"
            ),
        },
        {
            "setting": "shuffle the data every epoch",
            "pytorch": f"DataLoader shuffle={_default(torch.utils.data.DataLoader, 'shuffle')} (off)",
            "keras": _default(keras.Model.fit, "shuffle"),
            "numpy/ours": "no (full batch, order irrelevant)",
            "why it matters": "with mini-batches, shuffling makes the numbers change from run to run",
        },
        {
            "setting": "weight initialiser (one input, one output)",
            "pytorch": f"{torch_init} → uniform, |w| ≤ {torch_w_max:.3f}",
            "keras": (
                f"{type(kernel_init).__name__} → uniform, |w| ≤ {keras_kernel_limit():.3f}"
            ),
            "numpy/ours": _default(fit_numpy, "w0"),
            "why it matters": "a random start gives a different line after a short run: compare runs from the same w0",
        },
        {
            "setting": "bias initialiser (one input)",
            "pytorch": f"uniform, |b| ≤ {torch_b_max:.3f}",
            "keras": type(bias_init).__name__,
            "numpy/ours": _default(fit_numpy, "b0"),
            "why it matters": "Keras starts the bias at 0, PyTorch draws it at random",
        },
        {
            "setting": "default float type",
            "pytorch": str(torch.get_default_dtype()).replace("torch.", ""),
            "keras": keras.config.floatx(),
            "numpy/ours": str(np.zeros(1).dtype),
            "why it matters": "float32 results agree with float64 NumPy to float32 precision (about 1e-7), not exactly",
        },
        {
            "setting": "optimizer when none is named",
            "pytorch": "required (you build one)",
            "keras": _default(keras.Model.compile, "optimizer"),
            "numpy/ours": "plain gradient descent",
            "why it matters": "model.compile(loss='mse') alone trains with RMSprop, not gradient descent",
        },
        {
            "setting": "Adam epsilon",
            "pytorch": torch_adam_eps,
            "keras": keras_adam_eps,
            "numpy/ours": "—",
            "why it matters": "same name, different number: Adam runs differ slightly between frameworks",
        },
    ]
    return rows


def as_text(rows: list[dict]) -> str:
    """The rows as a plain-text table (one line per setting, columns padded)."""
    cells = [[str(row[field]) for field in FIELDS] for row in rows]
    widths = [max(len(field), *(len(line[i]) for line in cells)) for i, field in enumerate(FIELDS)]
    # The last column is free text: do not pad it, let it run on.
    def line(values):
        return " | ".join(v.ljust(w) for v, w in zip(values[:-1], widths[:-1])) + " | " + values[-1]

    header = line(list(FIELDS))
    return "\n".join([header, "-" * len(header), *(line(values) for values in cells)])


def as_markdown(rows: list[dict]) -> str:
    """The rows as a Markdown table (for ``IPython.display.Markdown``)."""
    def escape(value):
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(FIELDS) + " |", "|" + "---|" * len(FIELDS)]
    lines += ["| " + " | ".join(escape(row[field]) for field in FIELDS) + " |" for row in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    print(as_text(framework_defaults()))
