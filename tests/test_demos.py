"""The teaching cells' runner: the learner's fit when it gives a result, the reference (and a line saying so) when not."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from course import data, demos, reference

LINE = data.tiny_line()


def fit_by_hand(x, y, lr, epochs, w0=0.0, b0=0.0):
    """A learner's correct full-batch loop (float64), returning plain floats."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    w, b, losses = w0, b0, []
    for _ in range(epochs):
        error = w * x + b - y
        losses.append(np.mean(error ** 2))
        w, b = w - lr * 2 * np.mean(error * x), b - lr * 2 * np.mean(error)
    return w, b, losses


def test_the_learners_own_run_is_shown(capsys):
    run = demos.yours_or_reference(fit_by_hand, reference.fit_numpy, LINE.x, LINE.y, lr=0.05, epochs=30,
                                   w0=0.5, b0=-0.25, name="fit")
    expected = reference.fit_numpy(LINE.x, LINE.y, lr=0.05, epochs=30, w0=0.5, b0=-0.25)
    assert run.style == "your fit" and capsys.readouterr().out == ""
    np.testing.assert_allclose([run.w, run.b], [expected.w, expected.b], rtol=1e-12)
    np.testing.assert_allclose(run.losses, expected.losses, rtol=1e-12)
    assert (run.lr, run.epochs) == (0.05, 30)


def test_tensors_on_the_learners_device_are_read():
    torch = pytest.importorskip("torch")
    device = reference.default_device()

    def fit_torch(x, y, lr, epochs, w0=0.0, b0=0.0):
        w, b, losses = fit_by_hand(x, y, lr, epochs, w0, b0)
        return (torch.tensor(w, device=device), torch.tensor(b, device=device),
                [torch.tensor(value, device=device) for value in losses])

    run = demos.yours_or_reference(fit_torch, functools.partial(reference.fit_torch_manual, device=device),
                                   LINE.x, LINE.y, lr=0.05, epochs=10, name="fit_torch")
    assert run.style == "your fit_torch" and run.losses.dtype == np.float64 and run.losses.shape == (10,)


@pytest.mark.parametrize("answer, error", [
    (lambda *args: (_ for _ in ()).throw(NotImplementedError()), "NotImplementedError"),  # the stub
    (lambda *args: None, "TypeError"),                                                   # nothing returned
    (lambda *args: (1.0, 2.0, 3.0), "TypeError"),                                        # losses not a sequence
    (lambda *args: ("w", 0.0, [1.0]), "ValueError"),                                     # w not a number
])
def test_an_answer_without_a_result_falls_back_and_says_why(answer, error, capsys):
    run = demos.yours_or_reference(answer, reference.fit_numpy, LINE.x, LINE.y, lr=0.05, epochs=20, name="fit")
    said = capsys.readouterr().out
    assert said == f"(your fit raised {error}; the course's reference runs instead)\n"
    expected = reference.fit_numpy(LINE.x, LINE.y, lr=0.05, epochs=20)
    assert run.style == expected.style and (run.w, run.b) == (expected.w, expected.b)
