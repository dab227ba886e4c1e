"""course.defaults: the table of framework defaults says what the installed libraries really do.

Each test checks a row against the library's *behaviour* (build the object
with no argument, run the loss, count the batches), not against a typed-in
number, so the table and the tests follow an upgrade together.
"""

import numpy as np
import pytest

from course import defaults


@pytest.fixture(scope="module")
def rows():
    return defaults.framework_defaults()


@pytest.fixture(scope="module")
def by_setting(rows):
    return {row["setting"]: row for row in rows}


def test_every_row_has_every_column_and_settings_are_unique(rows):
    assert rows, "the table is empty"
    for row in rows:
        assert set(row) == set(defaults.FIELDS), row
        assert all(str(row[field]).strip() for field in defaults.FIELDS), row
    settings = [row["setting"] for row in rows]
    assert len(settings) == len(set(settings))


def test_versions_are_the_installed_ones(by_setting):
    import keras
    import torch

    row = by_setting["version"]
    assert row["pytorch"] == torch.__version__
    assert row["keras"].startswith(keras.__version__)
    assert row["numpy/ours"] == np.__version__


def test_sgd_learning_rates_are_what_an_optimizer_built_without_one_uses(by_setting):
    import keras
    import torch

    row = by_setting["SGD learning rate when none is given"]
    torch_sgd = torch.optim.SGD([torch.zeros(1, requires_grad=True)])
    assert row["pytorch"] == torch_sgd.param_groups[0]["lr"]
    # The string 'sgd' in compile (article 000) and SGD() agree with the table.
    for optimizer in (keras.optimizers.SGD(), keras.optimizers.get("sgd")):
        assert np.float32(row["keras"]) == np.float32(np.asarray(optimizer.learning_rate))
    assert row["numpy/ours"] == "required"
    assert row["pytorch"] != row["keras"], "this row exists because the defaults differ"


def test_learning_rate_names_are_accepted_and_the_other_spelling_is_rejected(by_setting):
    import keras
    import torch

    row = by_setting["learning-rate argument name"]
    param = torch.zeros(1, requires_grad=True)
    assert torch.optim.SGD([param], **{row["pytorch"]: 0.5}).param_groups[0]["lr"] == 0.5
    assert np.isclose(float(keras.optimizers.SGD(**{row["keras"]: 0.5}).learning_rate), 0.5)
    assert "TypeError" in row["why it matters"] and "ValueError" in row["why it matters"]


def test_mse_reductions_are_the_mean(by_setting):
    import keras
    import torch

    row = by_setting["MSE loss reduction"]
    rng = np.random.default_rng(3)
    pred, target = rng.normal(size=(2, 7, 1)).astype(np.float32)
    expected = np.mean((pred.astype(np.float64) - target) ** 2)
    torch_loss = torch.nn.MSELoss(reduction=row["pytorch"])(torch.from_numpy(pred), torch.from_numpy(target))
    keras_loss = keras.losses.MeanSquaredError(reduction=row["keras"])(target, pred)
    assert np.isclose(float(torch_loss), expected, rtol=1e-6)
    assert np.isclose(float(np.asarray(keras_loss)), expected, rtol=1e-6)
    assert row["numpy/ours"] == "mean"


def test_keras_fit_batch_size_is_measured_and_explicit_batch_size_reproduces_it(by_setting):
    batch = by_setting["points per update in fit / a training step"]["keras"]
    assert isinstance(batch, int) and batch > 1
    seen = defaults.keras_fit_batch_sizes(70)
    assert sum(seen) == 70, "one epoch must visit every point once"
    assert max(seen) == batch and all(size == batch for size in seen[:-1])


def test_initialiser_ranges_hold_for_fresh_layers(by_setting):
    import keras
    import torch

    row = by_setting["weight initialiser (one input, one output)"]
    torch_limit = float(row["pytorch"].rsplit("≤", 1)[1])
    keras_limit = float(row["keras"].rsplit("≤", 1)[1])
    assert row["pytorch"].startswith("kaiming_uniform")
    assert row["keras"].startswith("GlorotUniform")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        weights = [torch.nn.Linear(1, 1).weight.item() for _ in range(200)]
    assert max(map(abs, weights)) <= torch_limit + 1e-3
    assert max(map(abs, weights)) > 0.8 * torch_limit, "the range must be the one actually drawn"
    kernels = [float(keras.layers.Dense(1, kernel_initializer=keras.initializers.GlorotUniform(seed=s))
                     .kernel_initializer((1, 1))[0, 0]) for s in range(50)]
    assert max(map(abs, kernels)) <= keras_limit + 1e-6
    assert by_setting["bias initialiser (one input)"]["keras"] == "Zeros"


def test_tables_render_every_setting(rows):
    text, markdown = defaults.as_text(rows), defaults.as_markdown(rows)
    for row in rows:
        assert row["setting"] in text
        assert row["setting"] in markdown
    assert markdown.count("\n") == len(rows) + 1


def test_keras_kernel_limit_bounds_a_real_dense_kernel_of_other_shape():
    import keras

    limit = defaults.keras_kernel_limit(fan_in=40, fan_out=30)
    layer = keras.layers.Dense(30)
    layer.build((None, 40))
    kernel = np.asarray(layer.get_weights()[0])
    assert np.abs(kernel).max() <= limit
    assert np.abs(kernel).max() > 0.9 * limit, "1200 draws should come close to the edge of the range"
    # Glorot for a 1×1 kernel: sqrt(6 / (1 + 1)), computed here from the formula, not typed in.
    assert np.isclose(defaults.keras_kernel_limit(), np.sqrt(6.0 / (1 + 1)))


# --- notebook 6, Exercise 1: the six programs, run ---------------------------------------------
def _run_program(program, *, fix=None):
    """Program A–F of notebook 6's Exercise 1 as its markdown shows it, with the left-out setting ``fix``
    written out as NumPy's run has it instead; returns its (w, b)."""
    import keras
    import torch
    from torch import nn

    from course import data
    from course.checks.left_out import RUN_EPOCHS, RUN_LR

    line = data.tiny_line() if program == "C" else data.noisy_line()
    X, Y = line.x.reshape(-1, 1).astype(np.float32), line.y.reshape(-1, 1).astype(np.float32)
    if program == "E":
        model = nn.Linear(1, 1)
        with torch.no_grad():
            model.weight.fill_(0.0)
            model.bias.fill_(0.0)
        optimizer = torch.optim.SGD(model.parameters(), lr=RUN_LR)
        loss_fn = nn.MSELoss()
        tx, ty = torch.as_tensor(X), torch.as_tensor(Y)
        for _ in range(RUN_EPOCHS):
            optimizer.zero_grad()
            loss_fn(model(tx), ty).backward()
            optimizer.step()
        return model.weight.item(), model.bias.item()
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input(shape=(1,)), keras.layers.Dense(1)])
    zeros = [np.zeros((1, 1)), np.zeros(1)]
    sgd = lambda: keras.optimizers.SGD(learning_rate=RUN_LR)  # noqa: E731
    fit = dict(epochs=RUN_EPOCHS, verbose=0)
    if program != "D" or fix == "start":
        model.set_weights(zeros)
    if program == "A":
        model.compile(optimizer=sgd() if fix == "lr" else "sgd", loss="mse")
        fit.update(batch_size=len(X), shuffle=False)
    elif program in ("B", "C"):
        model.compile(optimizer=sgd(), loss="mse")
        if program == "B":
            fit.update(shuffle=False)
        if fix == "batch_size":
            fit.update(batch_size=len(X))
    elif program == "D":
        model.compile(optimizer=sgd(), loss="mse")
        fit.update(batch_size=len(X), shuffle=False)
    else:  # F
        model.compile(**(dict(optimizer=sgd()) if fix == "optimizer" else {}), loss="mse")
        fit.update(batch_size=len(X), shuffle=False)
    model.fit(X, Y, **fit)
    kernel, bias = model.get_weights()
    return float(kernel[0, 0]), float(bias[0])


@pytest.mark.parametrize("program", list("ABCDEF"))
def test_the_left_out_default_of_each_program_is_what_makes_it_differ(program):
    """Notebook 6, Exercise 1: a program differs from NumPy's run exactly when the check expects a cause, and
    writing that one setting out as NumPy's run has it makes it agree."""
    from course import data, reference
    from course.checks.left_out import RUN_EPOCHS, RUN_LR, expected_causes

    cause = expected_causes()[program]
    line = data.tiny_line() if program == "C" else data.noisy_line()
    ours = reference.fit_numpy(line.x, line.y, lr=RUN_LR, epochs=RUN_EPOCHS)

    def agrees(wb):
        return np.allclose(wb, (ours.w, ours.b), rtol=1e-4, atol=1e-5)

    assert agrees(_run_program(program)) == (cause is None), (program, cause, _run_program(program), ours)
    if cause is not None:
        assert agrees(_run_program(program, fix=cause)), (program, cause)
