"""The datasets: shapes, determinism, and the exact data of the source articles."""

import numpy as np
import pytest

from course import data


@pytest.mark.parametrize("name", sorted(data.DATASETS))
def test_named_datasets_are_float32_vectors(name):
    d = data.load(name)
    assert d.x.dtype == np.float32 and d.y.dtype == np.float32
    assert d.x.ndim == 1 and d.x.shape == d.y.shape and d.n == d.x.size > 0
    assert np.all(np.isfinite(d.x)) and np.all(np.isfinite(d.y))
    assert d.description and d.name == name
    x, y = d  # unpacking, as notebooks do
    assert x is d.x and y is d.y


@pytest.mark.parametrize("name", sorted(data.DATASETS))
def test_named_datasets_are_deterministic(name):
    a, b = data.load(name), data.load(name)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)


def test_tiny_line_is_article_000():
    d = data.tiny_line()
    assert d.x.tolist() == [-1.0, 0.0, 1.0, 2.0, 3.0, 4.0]
    assert d.y.tolist() == [-3.0, -1.0, 1.0, 3.0, 5.0, 7.0]


def test_xy_table_is_article_003():
    d = data.xy_table()
    assert d.n == 15 and d.x.max() == 24 and d.y.tolist()[:3] == [39, 42, 43]


def test_normal_line_follows_its_formula_and_seed():
    d = data.normal_line(seed=3)
    np.testing.assert_allclose(d.y, 0.1 * d.x + 0.3, rtol=1e-6, atol=1e-7)
    assert d.n == 100
    assert not np.array_equal(d.x, data.normal_line(seed=4).x)


def test_noisy_line_reproduces_article_002_draws_exactly():
    """The article drew X and y with torch.manual_seed(42), then initialised nn.Linear(1, 1)."""
    import torch

    torch.manual_seed(42)
    X = 2 * torch.rand(100, 1)
    y = 4 + 3 * X + 0.1 * torch.randn(100, 1)
    layer = torch.nn.Linear(1, 1)
    d = data.noisy_line()
    np.testing.assert_array_equal(d.x, X.numpy().ravel())
    np.testing.assert_array_equal(d.y, y.numpy().ravel())
    assert d.extra["article_w0"] == layer.weight.item()
    assert d.extra["article_b0"] == layer.bias.item()


def test_noisy_line_leaves_the_global_torch_generator_alone():
    import torch

    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    data.noisy_line()
    np.testing.assert_array_equal(torch.rand(3).numpy(), expected.numpy())


def test_make_line_is_seeded_and_respects_its_arguments():
    a = data.make_line(n=500, w=-3.0, b=2.0, noise=0.0, seed=1, x_low=0, x_high=5)
    np.testing.assert_allclose(a.y, -3.0 * a.x + 2.0, rtol=1e-5, atol=1e-5)
    assert a.n == 500 and a.x.min() >= 0 and a.x.max() <= 5
    np.testing.assert_array_equal(a.x, data.make_line(n=500, w=-3.0, b=2.0, noise=0.0, seed=1, x_low=0, x_high=5).x)
    assert not np.array_equal(a.x, data.make_line(n=500, seed=2).x)
    with pytest.raises(ValueError, match="at least one point"):
        data.make_line(n=0)


def test_unknown_dataset_names_the_choices():
    with pytest.raises(KeyError, match="tiny_line"):
        data.load("nope")


def test_importing_course_does_not_import_the_frameworks():
    import subprocess
    import sys

    code = (
        "import sys, course, course.data, course.reference, course.notebook;"
        "bad = [m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
