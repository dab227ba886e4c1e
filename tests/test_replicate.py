"""The replication table: every computed figure checked against an independent computation."""

import subprocess
import sys

import numpy as np
import pytest

from course import replicate


@pytest.fixture(scope="module")
def table():
    return replicate.rows()


def _find(table, article, starts):
    matches = [r for r in table if r.article == article
               and (r.quantity == starts or r.quantity.startswith(starts + " "))]
    assert len(matches) == 1, [r.quantity for r in table]
    return matches[0]


def test_rows_have_the_documented_fields(table):
    assert len(table) >= 15
    for row in table:
        assert row.article in {"000", "002"} and row.quantity
        assert isinstance(row.reported, str) and isinstance(row.computed, float)


def test_every_published_figure_is_reproduced(table):
    assert [r.quantity for r in table if not r.agrees] == []


def test_article_002_losses_match_the_articles_own_loop(table):
    """The article's code, written out plainly: global seed, nn.Linear, SGD, MSELoss."""
    import torch

    torch.manual_seed(42)
    X = 2 * torch.rand(100, 1)
    y = 4 + 3 * X + 0.1 * torch.randn(100, 1)
    model = torch.nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    printed = {}
    for epoch in range(1000):
        loss = torch.nn.functional.mse_loss(model(X), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if (epoch + 1) % 100 == 0:
            printed[epoch + 1] = loss.item()
    for k, value in printed.items():
        assert _find(table, "002", f"loss at epoch {k}").computed == value


def test_article_000_torch_figures_match_a_plain_loop(table):
    import torch

    xs = torch.tensor([[-1.0], [0.0], [1.0], [2.0], [3.0], [4.0]])
    ys = 2 * xs - 1
    model = torch.nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.zero_()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(500):
        loss = torch.nn.functional.mse_loss(model(xs), ys, reduction="sum")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert _find(table, "000", "PyTorch loss at epoch 499").computed == loss.item()
    with torch.no_grad():
        assert _find(table, "000", "PyTorch prediction").computed == model(torch.tensor([[10.0]])).item()


def test_article_002_gradient_is_two_x_over_n(table):
    for x in (1, 2, 3):
        assert _find(table, "002", f"d mean(x²)/dx at x = {x}").computed == pytest.approx(2 * x / 3, rel=1e-6)


def test_keras_rows_follow_from_plain_gradient_descent(table):
    """Closed-form check: the prediction is affine in the start, so a plain NumPy loop decides the band."""
    x = np.arange(-1.0, 5.0)
    y = 2 * x - 1

    def predict_after(w0):
        w, b = w0, 0.0
        for _ in range(500):
            r = w * x + b - y
            w, b = w - 0.01 * 2 * np.mean(r * x), b - 0.01 * 2 * np.mean(r)
        return 10 * w + b

    row = _find(table, "000", "Keras prediction")
    assert row.computed == pytest.approx(predict_after(0.0), rel=1e-6)
    low, high = sorted(predict_after(s) for s in (-np.sqrt(3), np.sqrt(3)))  # Glorot: ±sqrt(6 / (1 + 1))
    assert row.band == pytest.approx((low, high), rel=1e-9)


@pytest.mark.parametrize("value, printed, same", [
    (0.007414, "0.0074", True), (0.00745, "0.0074", False), (2.0, "2.0000", True),
    (5.151434834260726e-13, "5.151434834260726e-13", True), (5.1571e-05, "5.1584e-05", False),
])
def test_same_as_printed(value, printed, same):
    assert replicate.same_as_printed(value, printed) is same


def test_module_prints_the_table():
    done = subprocess.run([sys.executable, "-m", "course.replicate"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "5.151434834260726e-13" in done.stdout and "0.0074" in done.stdout
    assert " NO" not in done.stdout
