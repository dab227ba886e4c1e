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
