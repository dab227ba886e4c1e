"""Every named mistake, injected into a real training loop, is named; right and unknown answers are not.

The buggy loops below are written the way a learner would write them (NumPy in
float32 like the notebooks' data, PyTorch with nn.Linear / autograd), each
differing from a correct loop by the one mistake under test.
"""

import contextlib
import io
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from course import checks, data
from course import reference as R
from course.mistakes import MISTAKES, Variant, buggy_fit, find_mistakes, run_variants

TINY = data.tiny_line()
NORMAL = data.normal_line()
XY = data.xy_table()


def exercise(d, **settings):
    return dict(x=d.x, y=d.y, **settings)


def failure(w, b, losses, **ex):
    """The message check_fit fails with (the test fails if it passes)."""
    with pytest.raises(AssertionError) as info:
        checks.check_fit(w, b, losses, **ex)
    return str(info.value)


def assert_names(message, *ids):
    """The message names exactly these mistakes, in this order, with each one's title."""
    assert checks.mistake_ids(message) == list(ids), message
    for mistake_id in ids:
        assert MISTAKES[mistake_id].title in message, message


# --- learners' NumPy loops (float32, like the notebooks) -------------------------------------


def mse_and_grads(w, b, x, y):
    residual = w * x + b - y
    return np.mean(residual ** 2), 2 * np.mean(residual * x), 2 * np.mean(residual)


def np_fit(x, y, lr, epochs, w0=0.0, b0=0.0):
    w, b, losses = np.float32(w0), np.float32(b0), []
    for _ in range(epochs):
        loss, dw, db = mse_and_grads(w, b, x, y)
        losses.append(loss)
        w, b = w - np.float32(lr) * dw, b - np.float32(lr) * db
    return w, b, losses


def np_fit_sign_flipped(x, y, lr, epochs, w0=0.0, b0=0.0):
    w, b, losses = np.float32(w0), np.float32(b0), []
    for _ in range(epochs):
        loss, dw, db = mse_and_grads(w, b, x, y)
        losses.append(loss)
        w, b = w + np.float32(lr) * dw, b + np.float32(lr) * db  # uphill
    return w, b, losses


def np_fit_gradient_factor(x, y, lr, epochs, w0=0.0, b0=0.0, *, two=2.0):
    """``two=4``: an extra 2 in the gradient; ``two=1``: the 2 from the square dropped."""
    w, b, losses = np.float32(w0), np.float32(b0), []
    for _ in range(epochs):
        residual = w * x + b - y
        losses.append(np.mean(residual ** 2))
        dw, db = two * np.mean(residual * x), two * np.mean(residual)
        w, b = w - lr * dw, b - lr * db
    return w, b, losses


def np_fit_epochs(x, y, lr, epochs, w0=0.0, b0=0.0, *, loop=range):
    """``loop=lambda e: range(e - 1)`` and friends: the off-by-one loops."""
    w, b, losses = np.float32(w0), np.float32(b0), []
    for _ in loop(epochs):
        loss, dw, db = mse_and_grads(w, b, x, y)
        losses.append(loss)
        w, b = w - lr * dw, b - lr * db
    return w, b, losses


def np_fit_loss_after_update(x, y, lr, epochs, w0=0.0, b0=0.0):
    w, b, losses = np.float32(w0), np.float32(b0), []
    for _ in range(epochs):
        _, dw, db = mse_and_grads(w, b, x, y)
        w, b = w - lr * dw, b - lr * db
        losses.append(np.mean((w * x + b - y) ** 2))  # recorded after the update
    return w, b, losses


def np_fit_forgets_w(x, y, lr, epochs, w0=0.0, b0=0.0):
    w, b, losses = np.float32(w0), np.float32(b0), []
    for _ in range(epochs):
        loss, dw, db = mse_and_grads(w, b, x, y)
        losses.append(loss)
        b = b - lr * db  # the w update line is missing
    return w, b, losses


def np_fit_updates_a_copy(x, y, lr, epochs, w0=0.0, b0=0.0):
    w, b, losses = np.float32(w0), np.float32(b0), []
    for _ in range(epochs):
        loss, dw, db = mse_and_grads(w, b, x, y)
        losses.append(loss)
        w_new, b_new = w - lr * dw, b - lr * db  # computed, never kept
    return w, b, losses


def np_fit_column_x(x, y, lr, epochs, w0=0.0, b0=0.0):
    """x reshaped to a column, y left flat: w * x + b - y is an N×N table."""
    x = x.reshape(-1, 1)
    w, b, losses = np.float32(w0), np.float32(b0), []
    for _ in range(epochs):
        residual = w * x + b - y
        losses.append(np.mean(residual ** 2))
        w, b = w - lr * 2 * np.mean(residual * x), b - lr * 2 * np.mean(residual)
    return w, b, losses


def np_fit_ignores_start(x, y, lr, epochs, w0=0.0, b0=0.0):
    return np_fit(x, y, lr, epochs)  # w0 and b0 never used


# Wrong in ways no named mistake describes.
def np_fit_momentum(x, y, lr, epochs, w0=0.0, b0=0.0):
    w, b, vw, vb, losses = np.float32(w0), np.float32(b0), 0.0, 0.0, []
    for _ in range(epochs):
        loss, dw, db = mse_and_grads(w, b, x, y)
        losses.append(loss)
        vw, vb = 0.9 * vw + dw, 0.9 * vb + db
        w, b = w - lr * vw, b - lr * vb
    return w, b, losses


def np_fit_decaying_lr(x, y, lr, epochs, w0=0.0, b0=0.0):
    w, b, losses = np.float32(w0), np.float32(b0), []
    for epoch in range(epochs):
        loss, dw, db = mse_and_grads(w, b, x, y)
        losses.append(loss)
        w, b = w - lr / (1 + epoch) * dw, b - lr / (1 + epoch) * db
    return w, b, losses


def np_fit_x_squared(x, y, lr, epochs, w0=0.0, b0=0.0):
    w, b, losses = np.float32(w0), np.float32(b0), []
    for _ in range(epochs):
        loss, _, db = mse_and_grads(w, b, x, y)
        losses.append(loss)
        w, b = w - lr * 2 * np.mean((w * x + b - y) * x * x), b - lr * db
    return w, b, losses


# --- learners' PyTorch loops -------------------------------------------------------------------


def torch_linear_fit(x, y, lr, epochs, w0=0.0, b0=0.0, *, loss_fn=None, flat_target=False, zero_grad=True):
    """nn.Linear(1, 1) + SGD: the article 000/002 loop, with the given loss and target shape."""
    X = torch.tensor(x).reshape(-1, 1)
    Y = torch.tensor(y) if flat_target else torch.tensor(y).reshape(-1, 1)
    model = nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.fill_(w0)
        model.bias.fill_(b0)
    loss_fn = loss_fn or nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        if zero_grad:
            optimizer.zero_grad()
        loss = loss_fn(model(X), Y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model, losses


def torch_manual_fit(x, y, lr, epochs, w0=0.0, b0=0.0, *, zero_grad=True, update_b=True):
    X, Y = torch.tensor(x), torch.tensor(y)
    w = torch.tensor(w0, requires_grad=True)
    b = torch.tensor(b0, requires_grad=True)
    losses = []
    for _ in range(epochs):
        loss = ((w * X + b - Y) ** 2).mean()
        losses.append(loss.item())
        loss.backward()
        with torch.no_grad():
            w -= lr * w.grad
            if update_b:
                b -= lr * b.grad
        if zero_grad:
            w.grad.zero_()
            b.grad.zero_()
    return w, b, losses


# --- each named mistake ----------------------------------------------------------------------


def test_summed_loss_as_in_article_000_is_named():
    ex = exercise(TINY, lr=0.01, epochs=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # size_average is deprecated, and still out there
        model, losses = torch_linear_fit(TINY.x, TINY.y, 0.01, 100, loss_fn=nn.MSELoss(size_average=False))
    message = failure(model.weight, model.bias, losses, **ex)
    assert_names(message, "sum_reduction")
    assert "n = 6 times larger" in message and "Fix: average the loss" in message
    # without the loss history the w, b alone still point to it first
    assert checks.diagnose(model.weight, model.bias, x=TINY.x, y=TINY.y, lr=0.01, epochs=100)[0] == "sum_reduction"


def test_averaged_loss_when_the_sum_was_asked_is_named():
    ex = exercise(TINY, lr=0.01, epochs=500, reduction="sum")
    model, losses = torch_linear_fit(TINY.x, TINY.y, 0.01, 500)
    assert_names(failure(model.weight, model.bias, losses, **ex), "mean_reduction")


def test_gradients_never_zeroed_are_named():
    ex = exercise(NORMAL, lr=0.01, epochs=30)
    w, b, losses = torch_manual_fit(NORMAL.x, NORMAL.y, 0.01, 30, zero_grad=False)
    assert_names(failure(w, b, losses, **ex), "no_zero_grad")
    model, losses = torch_linear_fit(NORMAL.x, NORMAL.y, 0.01, 30, zero_grad=False)
    assert_names(failure(model.weight, model.bias, losses, **ex), "no_zero_grad")


def test_flipped_sign_is_named_and_the_loss_grows():
    ex = exercise(TINY, lr=0.01, epochs=15)
    w, b, losses = np_fit_sign_flipped(TINY.x, TINY.y, 0.01, 15)
    assert losses[-1] > losses[0]
    assert_names(failure(w, b, losses, **ex), "sign_flip")


def test_flipped_sign_that_blew_up_is_diverged_with_its_cause():
    ex = exercise(TINY, lr=0.01, epochs=600)
    with np.errstate(all="ignore"):
        w, b, losses = np_fit_sign_flipped(TINY.x, TINY.y, 0.01, 600)
    assert not np.isfinite(losses[-1])
    message = failure(w, b, losses, **ex)
    assert_names(message, "diverged", "sign_flip")
    assert "The cause: *gradient sign flipped*" in message


def test_too_large_learning_rate_diverges_and_the_message_gives_the_bound():
    ex = exercise(XY, lr=0.001, epochs=200)
    with np.errstate(all="ignore"):
        w, b, losses = np_fit(XY.x, XY.y, 0.01, 200)  # ten times the lr asked: past the bound
    bound = R.stability_bound(XY.x, "mean")
    assert 0.001 < bound < 0.01 and not np.isfinite(w)
    message = failure(w, b, losses, **ex)
    assert_names(message, "diverged", "wrong_lr")
    assert f"lr < {bound:.5g}" in message and "lr = 0.01 instead of lr = 0.001" in message
    # with only the final NaNs there is no telling why: diverged alone, never a guess
    assert checks.diagnose(w, b, x=XY.x, y=XY.y, lr=0.001, epochs=200) == ["diverged"]


@pytest.mark.parametrize("loop, ran", [
    (lambda e: range(e - 1), 39), (lambda e: range(e + 1), 41), (lambda e: range(1, e), 39),
])
def test_wrong_number_of_epochs_is_named_with_the_count(loop, ran):
    ex = exercise(NORMAL, lr=0.05, epochs=40)
    w, b, losses = np_fit_epochs(NORMAL.x, NORMAL.y, 0.05, 40, loop=loop)
    message = failure(w, b, losses, **ex)
    assert_names(message, "epochs_off")
    assert f"after {ran} epochs, not 40" in message
    assert "epochs_off" in checks.diagnose(w, b, x=NORMAL.x, y=NORMAL.y, lr=0.05, epochs=40)


def test_loss_recorded_after_the_update_is_named():
    ex = exercise(NORMAL, lr=0.05, epochs=40)
    w, b, losses = np_fit_loss_after_update(NORMAL.x, NORMAL.y, 0.05, 40)
    message = failure(w, b, losses, **ex)
    assert_names(message, "loss_shifted")
    assert "\nw and b are right, but losses are wrong from epoch 0 on" in message


def test_one_loss_too_many_is_named():
    ex = exercise(NORMAL, lr=0.05, epochs=40)
    w, b, losses = np_fit(NORMAL.x, NORMAL.y, 0.05, 40)
    losses.append(np.mean((w * NORMAL.x + b - NORMAL.y) ** 2))
    message = failure(w, b, losses, **ex)
    assert_names(message, "loss_shifted")
    assert "expected 40 values, received 41" in message and "hold 41 values for 40 epochs" in message


def test_swapped_w_and_b_from_nn_linear_are_named():
    ex = exercise(TINY, lr=0.05, epochs=200)
    model, losses = torch_linear_fit(TINY.x, TINY.y, 0.05, 200)
    w, b = model.bias.item(), model.weight.item()  # read the wrong way round
    assert_names(failure(w, b, losses, **ex), "swapped")


@pytest.mark.parametrize("two, mistake", [(4.0, "grad_x2"), (1.0, "grad_half")])
def test_factor_two_added_or_dropped_is_named(two, mistake):
    ex = exercise(NORMAL, lr=0.05, epochs=30)
    w, b, losses = np_fit_gradient_factor(NORMAL.x, NORMAL.y, 0.05, 30, two=two)
    assert_names(failure(w, b, losses, **ex), mistake)


def test_only_w_updated_in_torch_is_named():
    ex = exercise(TINY, lr=0.02, epochs=50, b0=0.5)
    w, b, losses = torch_manual_fit(TINY.x, TINY.y, 0.02, 50, b0=0.5, update_b=False)
    message = failure(w, b, losses, **ex)
    assert_names(message, "only_w")
    assert "b never moved from its start b0 = 0.5" in message


def test_only_b_updated_in_numpy_is_named():
    ex = exercise(TINY, lr=0.02, epochs=50, w0=0.5)
    w, b, losses = np_fit_forgets_w(TINY.x, TINY.y, 0.02, 50, w0=0.5)
    assert_names(failure(w, b, losses, **ex), "only_b")


def test_updates_that_are_never_kept_are_named():
    ex = exercise(TINY, lr=0.02, epochs=50, w0=0.5, b0=0.25)
    w, b, losses = np_fit_updates_a_copy(TINY.x, TINY.y, 0.02, 50, w0=0.5, b0=0.25)
    assert_names(failure(w, b, losses, **ex), "no_update")
    assert checks.diagnose(w, b, x=TINY.x, y=TINY.y, lr=0.02, epochs=50, w0=0.5, b0=0.25) == ["no_update"]


def test_n_by_n_broadcast_in_torch_is_named_although_torch_only_warns():
    ex = exercise(XY, lr=0.001, epochs=60)
    with pytest.warns(UserWarning, match="target size"):
        model, losses = torch_linear_fit(XY.x, XY.y, 0.001, 60, flat_target=True)
    assert_names(failure(model.weight, model.bias, losses, **ex), "broadcast_nxn")


def test_n_by_n_broadcast_in_numpy_is_named_although_numpy_says_nothing():
    ex = exercise(TINY, lr=0.02, epochs=60)
    w, b, losses = np_fit_column_x(TINY.x, TINY.y, 0.02, 60)
    message = failure(w, b, losses, **ex)
    assert_names(message, "broadcast_nxn")
    assert "y.reshape(-1, 1)" in message


def test_wrong_dataset_is_named():
    ex = exercise(NORMAL, lr=0.05, epochs=40)
    w, b, losses = np_fit(TINY.x, TINY.y, 0.05, 40)
    message = failure(w, b, losses, **ex)
    assert_names(message, "wrong_data")
    assert "the tiny_line dataset" in message


def test_x_and_y_swapped_is_named():
    ex = exercise(NORMAL, lr=0.05, epochs=40)
    w, b, losses = np_fit(NORMAL.y, NORMAL.x, 0.05, 40)
    assert "x and y swapped" in failure(w, b, losses, **ex)


def test_wrong_learning_rate_is_named_with_the_value_used():
    ex = exercise(NORMAL, lr=0.01, epochs=40)
    w, b, losses = np_fit(NORMAL.x, NORMAL.y, 0.1, 40)
    message = failure(w, b, losses, **ex)
    assert_names(message, "wrong_lr")
    assert "lr = 0.1 instead of lr = 0.01" in message


def test_a_fit_function_that_ignores_its_start_is_named():
    with pytest.raises(AssertionError) as info:
        checks.check_fit_function(np_fit_ignores_start, x=NORMAL.x, y=NORMAL.y, lr=0.05, epochs=40, w0=1.5, b0=-0.5)
    message = str(info.value)
    assert_names(message, "wrong_start")
    assert "w0 = 0, b0 = 0 instead of w0 = 1.5, b0 = -0.5" in message


# --- never a false diagnosis ------------------------------------------------------------------


@st.composite
def stable_exercises(draw):
    d = data.make_line(
        n=draw(st.integers(2, 60)), w=draw(st.floats(-5, 5)), b=draw(st.floats(-5, 5)),
        noise=draw(st.floats(0.0, 1.0)), seed=draw(st.integers(0, 10_000)),
        x_low=draw(st.floats(-3.0, 0.0)), x_high=draw(st.floats(0.5, 5.0)),
    )
    reduction = draw(st.sampled_from(["mean", "sum"]))
    lr = R.stability_bound(d.x, reduction) * draw(st.floats(0.01, 0.95))
    return dict(x=d.x, y=d.y, lr=lr, epochs=draw(st.integers(1, 200)), w0=draw(st.floats(-3, 3)),
                b0=draw(st.floats(-3, 3)), reduction=reduction)


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(ex=stable_exercises())
def test_a_correct_float32_torch_run_always_passes_and_is_never_diagnosed(ex):
    result = R.fit_torch_manual(**ex, device="cpu")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        checks.check_fit(result.w, result.b, result.losses, **ex)
    assert printed.getvalue().startswith("✓ check_fit")
    assert checks.diagnose(result.w, result.b, result.losses, **ex) == []
    assert checks.diagnose(result.w, result.b, **ex) == []


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(ex=stable_exercises(), angle=st.floats(0, 2 * np.pi), size=st.floats(1e-3, 1.0))
def test_a_wrong_answer_off_every_trajectory_is_reported_plainly(ex, angle, size):
    right = R.fit_numpy(**ex)
    scale = max(1.0, abs(right.w), abs(right.b))
    w, b = right.w + size * scale * np.cos(angle), right.b + size * scale * np.sin(angle)
    losses = right.losses * (1 + size)
    with pytest.raises(AssertionError) as info:
        checks.check_fit(w, b, losses, **ex)
    assert checks.mistake_ids(str(info.value)) == []
    assert "match none of the mistakes" in str(info.value)


@pytest.mark.parametrize("loop", [np_fit_momentum, np_fit_decaying_lr, np_fit_x_squared])
def test_unknown_bugs_get_no_name(loop):
    ex = exercise(NORMAL, lr=0.05, epochs=40)
    w, b, losses = loop(NORMAL.x, NORMAL.y, 0.05, 40)
    message = failure(w, b, losses, **ex)
    assert checks.mistake_ids(message) == [] and "[mistake:" not in message
    assert checks.diagnose(w, b, losses, **ex) == []


@pytest.mark.parametrize("name", ["tiny_line", "xy_table", "normal_line"])
def test_the_learners_correct_loops_pass_on_every_dataset(name, capsys):
    d = data.load(name)
    lr = 0.5 * R.stability_bound(d.x, "mean")
    checks.check_fit(*np_fit(d.x, d.y, lr, 120, 0.5, -0.5), x=d.x, y=d.y, lr=lr, epochs=120, w0=0.5, b0=-0.5)
    w, b, losses = torch_manual_fit(d.x, d.y, lr, 120, 0.5, -0.5)
    checks.check_fit(w, b, losses, x=d.x, y=d.y, lr=lr, epochs=120, w0=0.5, b0=-0.5)
    assert capsys.readouterr().out.count("✓") == 2


def test_an_exercise_that_asks_to_diverge_accepts_the_float32_blow_up(capsys):
    lr = 1.2 * R.stability_bound(XY.x, "mean")
    ex = exercise(XY, lr=lr, epochs=300)
    result = R.fit_torch_manual(**ex, device="cpu")
    assert not np.isfinite(result.w)  # float32 overflowed where float64 is still finite
    checks.check_fit(result.w, result.b, result.losses, **ex)
    assert "✓" in capsys.readouterr().out


# --- the buggy gradient descent itself ----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(data.DATASETS))
def test_buggy_fit_without_a_bug_is_the_reference(name):
    d = data.load(name)
    settings_ = dict(lr=0.3 * R.stability_bound(d.x, "mean"), epochs=50, w0=0.3, b0=-0.2)
    ours, ref = buggy_fit(d.x, d.y, **settings_), R.fit_numpy(d.x, d.y, **settings_)
    assert ours.w == pytest.approx(ref.w, rel=1e-12) and ours.b == pytest.approx(ref.b, rel=1e-12)
    np.testing.assert_allclose(ours.losses, ref.losses, rtol=1e-12)


def test_buggy_sum_is_the_reference_with_reduction_sum():
    ours = buggy_fit(TINY.x, TINY.y, lr=0.01, epochs=500, bug="sum_reduction")
    ref = R.fit_numpy(TINY.x, TINY.y, lr=0.01, epochs=500, reduction="sum")
    assert ours.w == pytest.approx(ref.w, rel=1e-12) and ours.b == pytest.approx(ref.b, rel=1e-12)


def test_broadcast_loss_and_gradients_are_the_n_by_n_ones():
    """The closed form in run_variants equals torch autograd on the real N×N table."""
    x, y = NORMAL.x[:9].astype(np.float64), NORMAL.y[:9].astype(np.float64)
    for reduction in ("mean", "sum"):
        run = run_variants(x, y, [Variant(lr=0.1, w0=0.7, b0=-0.4, reduction=reduction, broadcast=True)], 2)
        w = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
        b = torch.tensor(-0.4, dtype=torch.float64, requires_grad=True)
        table = (w * torch.tensor(x).reshape(-1, 1) + b - torch.tensor(y)) ** 2
        loss = table.mean() if reduction == "mean" else table.sum()
        loss.backward()
        assert run.losses[0, 0] == pytest.approx(loss.item(), rel=1e-12)
        step = 0.1 * np.array([w.grad.item(), b.grad.item()])
        first_w = run_variants(x, y, [Variant(lr=0.1, w0=0.7, b0=-0.4, reduction=reduction, broadcast=True)], 1).w[0]
        assert first_w == pytest.approx(0.7 - step[0], rel=1e-12)


def test_run_variants_handles_blow_up_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = run_variants(XY.x, XY.y, [Variant(lr=1.0)], 400)
    assert not np.isfinite(run.w[0])


def test_buggy_fit_rejects_an_unknown_bug():
    with pytest.raises(ValueError, match="unknown bug"):
        buggy_fit(TINY.x, TINY.y, lr=0.01, epochs=5, bug="typo")


def test_find_mistakes_returns_nothing_for_the_reference_itself():
    ref = R.fit_numpy(TINY.x, TINY.y, lr=0.01, epochs=500)
    assert find_mistakes(ref.w, ref.b, ref.losses, x=TINY.x, y=TINY.y, lr=0.01, epochs=500) == []


def test_every_mistake_has_a_title_an_explanation_and_a_fix():
    for mistake_id, mistake in MISTAKES.items():
        assert mistake.id == mistake_id and mistake_id.replace("_", "").isalnum()
        assert mistake.title and mistake.why and mistake.fix
