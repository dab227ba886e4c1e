"""The five reference implementations agree, converge, and diverge together."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from course import data
from course import reference as R

FRAMEWORK_STYLES = ["torch_manual", "torch_optim", "keras", "tape"]
# float32 holds ~7 significant digits; after many epochs a relative 1e-5 of the
# problem's own scale is what the issue asks for.
RTOL = 1e-5


def assert_agree(result, ref, y=None, *, rtol=RTOL):
    """w, b and every loss agree to ``rtol`` of the problem's scale.

    Near its minimum the loss is a small difference of float32 numbers the
    size of ``y``: its absolute precision is set by ``y``'s scale, not by the
    loss itself, hence the floor ``rtol · 1e-2 · Σy²`` (÷ n for the mean).
    """
    scale_wb = max(1.0, abs(ref.w), abs(ref.b))
    assert abs(result.w - ref.w) <= rtol * scale_wb, (result, ref)
    assert abs(result.b - ref.b) <= rtol * scale_wb, (result, ref)
    assert result.losses.shape == ref.losses.shape
    floor = 0.0
    if y is not None:
        y = np.asarray(y, dtype=np.float64)
        floor = 1e-2 * float(np.dot(y, y)) / (y.size if ref.reduction == "mean" else 1)
    err = np.abs(result.losses - ref.losses)
    allowed = rtol * (np.abs(ref.losses) + floor) + 1e-12
    worst = int(np.argmax(err - allowed)) if err.size else 0
    assert np.all(err <= allowed), (
        f"{result.style} loss {worst}: {result.losses[worst]!r} vs numpy {ref.losses[worst]!r}"
    )


@st.composite
def stable_configs(draw):
    n = draw(st.integers(2, 200))
    seed = draw(st.integers(0, 10_000))
    w_true = draw(st.floats(-5, 5))
    b_true = draw(st.floats(-5, 5))
    d = data.make_line(n=n, w=w_true, b=b_true, noise=draw(st.floats(0.01, 1.0)), seed=seed,
                       x_low=-2.0, x_high=draw(st.floats(-1.0, 4.0)) + 2.5)
    reduction = draw(st.sampled_from(["mean", "sum"]))
    bound = R.stability_bound(d.x, reduction)
    lr = bound * draw(st.floats(0.05, 0.8))
    return dict(x=d.x, y=d.y, lr=lr, epochs=draw(st.integers(1, 150)),
                w0=draw(st.floats(-3, 3)), b0=draw(st.floats(-3, 3)), reduction=reduction)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=stable_configs())
def test_all_five_agree_with_numpy_on_stable_configurations(cfg):
    ref = R.fit_numpy(**cfg)
    for style in FRAMEWORK_STYLES:
        assert_agree(R.STYLES[style](**cfg), ref, cfg["y"])


@pytest.mark.parametrize("name", sorted(data.DATASETS))
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_all_five_agree_on_every_named_dataset(name, reduction):
    d = data.load(name)
    cfg = dict(lr=0.5 * R.stability_bound(d.x, reduction), epochs=60, w0=0.5, b0=-0.25, reduction=reduction)
    ref = R.fit_numpy(d.x, d.y, **cfg)
    for style in FRAMEWORK_STYLES:
        assert_agree(R.STYLES[style](d.x, d.y, **cfg), ref, d.y)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_all_report_divergence_together_above_the_bound(reduction):
    d = data.make_line(n=30, w=2, b=1, noise=0.2, seed=5)
    lr = 1.2 * R.stability_bound(d.x, reduction)
    results = {style: fit(d.x, d.y, lr=lr, epochs=200, reduction=reduction) for style, fit in R.STYLES.items()}
    assert all(r.diverged for r in results.values()), results
    # and just below the bound every one of them converges
    lr = 0.9 * R.stability_bound(d.x, reduction)
    results = {style: fit(d.x, d.y, lr=lr, epochs=200, reduction=reduction) for style, fit in R.STYLES.items()}
    assert not any(r.diverged for r in results.values()), results


@pytest.mark.parametrize("style", list(R.STYLES))
def test_each_converges_to_the_closed_form(style):
    d = data.make_line(n=50, w=1.5, b=-0.5, noise=0.3, seed=11)
    w_star, b_star = R.closed_form(d.x, d.y)
    r = R.STYLES[style](d.x, d.y, lr=0.6 * R.stability_bound(d.x), epochs=3000)
    assert abs(r.w - w_star) <= 1e-4 and abs(r.b - b_star) <= 1e-4, (r, w_star, b_star)


def test_closed_form_matches_numpy_polyfit():
    d = data.xy_table()
    w, b = R.closed_form(d.x, d.y)
    np.testing.assert_allclose([w, b], np.polyfit(d.x.astype(float), d.y.astype(float), 1), rtol=1e-10)


def test_stability_bound_is_two_over_the_largest_hessian_eigenvalue():
    d = data.tiny_line()
    # x = -1..4: Σx = 9, Σx² = 31, n = 6 -> H = (2/6)[[31, 9], [9, 6]]
    lam = np.linalg.eigvalsh((2 / 6) * np.array([[31.0, 9.0], [9.0, 6.0]])).max()
    assert R.stability_bound(d.x) == pytest.approx(2 / lam)
    assert R.stability_bound(d.x, "sum") == pytest.approx(R.stability_bound(d.x) / 6)


def test_numpy_gradients_match_finite_differences():
    d = data.make_line(n=20, seed=2)
    x, y = d.x.astype(float), d.y.astype(float)
    for reduction in ("mean", "sum"):
        gw, gb = R.gradients(x, y, 0.3, -0.7, reduction)
        h = 1e-6
        fw = (R.mse(0.3 + h, -0.7, x, y, reduction) - R.mse(0.3 - h, -0.7, x, y, reduction)) / (2 * h)
        fb = (R.mse(0.3, -0.7 + h, x, y, reduction) - R.mse(0.3, -0.7 - h, x, y, reduction)) / (2 * h)
        assert gw == pytest.approx(fw, rel=1e-6) and gb == pytest.approx(fb, rel=1e-6)


def test_losses_are_recorded_before_each_update():
    d = data.tiny_line()
    r = R.fit_numpy(d.x, d.y, lr=0.01, epochs=3, w0=0.5, b0=0.5)
    assert r.losses[0] == pytest.approx(R.mse(0.5, 0.5, d.x, d.y))
    assert len(r.losses) == 3 and r.losses[2] < r.losses[0]


def test_keras_fast_path_is_the_same_as_model_fit():
    d = data.tiny_line()
    fast = R.fit_keras(d.x, d.y, lr=0.05, epochs=15, w0=0.3, b0=0.1)
    slow = R.fit_keras(d.x, d.y, lr=0.05, epochs=15, w0=0.3, b0=0.1, use_fit=True)
    assert_agree(fast, slow, rtol=1e-6)


def test_article_000_pytorch_loss_is_reproduced_exactly():
    """size_average=False (sum), lr=0.01, 500 epochs: the article printed 5.151434834260726e-13."""
    d = data.tiny_line()
    r = R.fit_torch_optim(d.x, d.y, lr=0.01, epochs=500, reduction="sum", device="cpu")
    assert r.losses[499] == 5.151434834260726e-13


def test_article_002_loss_table_is_reproduced():
    d = data.noisy_line()
    r = R.fit_torch_optim(d.x, d.y, lr=0.01, epochs=1000, w0=d.extra["article_w0"], b0=d.extra["article_b0"])
    printed = [0.2024, 0.1098, 0.0627, 0.0371, 0.0232, 0.0156, 0.0115, 0.0093, 0.0081, 0.0074]
    assert [round(float(r.losses[k]), 4) for k in range(99, 1000, 100)] == printed


@pytest.mark.parametrize("bad, message", [
    (dict(x=[1, 2], y=[1]), "same number of points"),
    (dict(x=[], y=[]), "empty"),
    (dict(x=[1, 2], y=[1, 2], lr=-1), "positive"),
    (dict(x=[1, 2], y=[1, 2], epochs=2.5), "whole number"),
    (dict(x=[1, 2], y=[1, 2], reduction="max"), "reduction"),
])
def test_bad_arguments_get_clear_messages(bad, message):
    kwargs = dict(lr=0.1, epochs=3) | bad
    x, y = kwargs.pop("x"), kwargs.pop("y")
    with pytest.raises(ValueError, match=message):
        R.fit_numpy(x, y, **kwargs)


def test_zero_epochs_returns_the_start():
    d = data.tiny_line()
    for style, fit in R.STYLES.items():
        r = fit(d.x, d.y, lr=0.01, epochs=0, w0=1.5, b0=-2.0)
        assert (r.w, r.b, len(r.losses)) == (1.5, -2.0, 0), style


def _devices():
    import torch

    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("style", ["torch_manual", "torch_optim"])
def test_torch_styles_agree_on_every_available_device(style):
    """CPU always; CUDA too where a GPU is present: the same numbers to float32 precision."""
    d = data.noisy_line()
    cfg = dict(lr=0.05, epochs=200, w0=0.5, b0=-0.5)
    ref = R.fit_numpy(d.x, d.y, **cfg)
    for device in _devices():
        assert_agree(R.STYLES[style](d.x, d.y, device=device, **cfg), ref, d.y)
    assert R.default_device() == _devices()[-1]
