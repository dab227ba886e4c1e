"""Notebook 5's checks (issue 25): the tape's gradient of mean(v³), which calls trace a tf.function, and
SGD's momentum by hand; each slip is named first, with its fix, in no more than 12 lines."""

import json
from pathlib import Path

import numpy as np
import pytest

from course import checks, data
from course.checks import momentum as momentum_check
from course.checks import retrace
from course.checks.tape import tape_input
from course.reference import quiet_tensorflow
from test_naming import assert_opens_with, verdict

tf = quiet_tensorflow()
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "05_gradient_tape" / "05_gradient_tape.ipynb"


def assert_named_first(error, mistake_id):
    assert_opens_with(error, mistake_id)
    lines = error.student_lines()
    # Notebook 5's verdicts use none of PyTorch's words (tests/test_corpus.py's FOREIGN_WORDS).
    shown = "\n".join(lines)
    assert not any(word in shown for word in ("torch", "no_grad", ".grad", "backward()", "optimizer.", "nn.")), shown


# --- Exercise 1: the gradient of mean(v³) ----------------------------------------------------
def tape_gradient(watch=True, inside=True, reduce=tf.reduce_mean, power=3, example=False):
    def cube_gradient(v):
        if example:
            v = tf.constant([1.0, 2.0, 3.0])
        before = reduce(v ** power)
        with tf.GradientTape() as tape:
            if watch:
                tape.watch(v)
            value = reduce(v ** power) if inside else before
        return tape.gradient(value, v)
    return cube_gradient


def test_a_watched_tape_passes_on_every_seed_and_the_input_is_fresh(capsys):
    for seed in (0, 1, 2):
        checks.check_tape_gradient(tape_gradient(), seed=seed)
        assert capsys.readouterr().out.startswith("✓ cube_gradient(v)")
    assert tape_input(0).size not in (3,) and len({tape_input(s).size for s in (0, 1, 2)}) == 3


@pytest.mark.parametrize("slip, mistake_id", [
    (dict(watch=False), "not_watched"), (dict(inside=False), "outside_tape"),
    (dict(reduce=tf.reduce_sum), "sum_reduction"), (dict(power=2), "other_function"),
    (dict(example=True), "example_input"),
])
def test_tape_slips_are_named(slip, mistake_id):
    assert_named_first(verdict(checks.check_tape_gradient, tape_gradient(**slip)), mistake_id)


def test_hand_formulas_with_the_wrong_factor_are_named():
    assert_named_first(verdict(checks.check_tape_gradient, lambda v: v ** 2), "fixed_n")
    message = str(verdict(checks.check_tape_gradient, lambda v: v ** 2 / tf.cast(tf.size(v), tf.float32)))
    assert "power rule" in message and checks.mistake_ids(message) == ["other_function"]


# --- Exercise 4: which calls trace -------------------------------------------------------------
def test_the_simulated_rule_agrees_with_tensorflow():
    expected = retrace.traced_by_tensorflow()
    assert expected == retrace._traces_under(lambda call, number: retrace._signature(call))
    assert 1 in expected and 2 not in expected and len(expected) < len(retrace.RETRACE_CALLS)


def test_every_belief_gives_its_own_answer():
    answers = [retrace._traces_under(key) for key in retrace._BELIEFS.values()]
    answers.append(retrace.traced_by_tensorflow())
    assert len({tuple(a) for a in answers}) == len(answers)


def test_the_right_answer_passes(capsys):
    checks.check_retrace(retrace.traced_by_tensorflow())
    assert capsys.readouterr().out.startswith("✓ traced_calls")
    checks.check_retrace(tuple(reversed(retrace.traced_by_tensorflow())))


@pytest.mark.parametrize("mistake_id", list(retrace._BELIEFS))
def test_each_wrong_belief_is_named(mistake_id):
    answer = retrace._traces_under(retrace._BELIEFS[mistake_id])
    assert_named_first(verdict(checks.check_retrace, answer), mistake_id)


def test_counting_slips_and_unnamed_answers():
    expected = retrace.traced_by_tensorflow()
    assert_named_first(verdict(checks.check_retrace, expected[1:]), "first_call_not_counted")
    assert_named_first(verdict(checks.check_retrace, [n - 1 for n in expected]), "numbered_from_zero")
    odd = str(verdict(checks.check_retrace, [1, 2]))
    assert checks.mistake_ids(odd) == [] and "call 2 has the same dtype" in odd
    for bad in (7, "1, 3", None, [1.5], [1, 1], [11], float("nan")):
        assert "traced_calls" in str(verdict(checks.check_retrace, bad))


def test_the_notebook_shows_the_calls_the_check_runs():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    text = "\n".join("".join(c["source"]) for c in cells)
    for number, code in enumerate(checks.retrace_calls(), start=1):
        assert f"double({code})" in text, code


# --- Exercise 5: momentum by hand --------------------------------------------------------------
LINE = data.make_line(n=20, w=1.5, b=-0.5, noise=0.3, seed=51)
SETTINGS = dict(lr=0.05, momentum=0.9, epochs=40)


def keras_momentum(x, y, lr, momentum, epochs, w0=0.0, b0=0.0, nesterov=False):
    import keras

    x, y = tf.cast(x, tf.float32), tf.cast(y, tf.float32)
    w, b = tf.Variable(float(w0)), tf.Variable(float(b0))
    optimizer = keras.optimizers.SGD(learning_rate=lr, momentum=momentum, nesterov=nesterov)
    losses = []
    for _ in range(epochs):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((w * x + b - y) ** 2)
        optimizer.apply_gradients(zip(tape.gradient(loss, [w, b]), [w, b]))
        losses.append(float(loss))
    return w, b, losses


def test_keras_sgd_passes_and_the_numpy_rule_is_keras_own(capsys):
    checks.check_momentum_fit(keras_momentum, x=LINE.x, y=LINE.y, **SETTINGS)
    assert capsys.readouterr().out.startswith("✓ check_momentum_fit")
    other = data.make_line(n=30, w=-0.8, b=1.2, noise=0.2, seed=52)
    checks.check_momentum_fit(keras_momentum, x=other.x, y=other.y, lr=0.02, momentum=0.8, epochs=60,
                              w0=1.0, b0=-1.0)


def rule_fit(rule):
    def fit_momentum(x, y, lr, momentum, epochs, w0=0.0, b0=0.0):
        x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
        w, b, losses = momentum_check.momentum_run(x, y, lr=lr, momentum=momentum, epochs=epochs, w0=w0, b0=b0,
                                             rule=rule)
        return np.float32(w), np.float32(b), np.float32(losses)
    return fit_momentum


@pytest.mark.parametrize("mistake_id, rule", [(m, r) for m, r in momentum_check._SLIPS.items() if m != "sign_flip"])
def test_momentum_slips_are_named(mistake_id, rule):
    assert_named_first(verdict(checks.check_momentum_fit, rule_fit(rule), x=LINE.x, y=LINE.y, **SETTINGS),
                       mistake_id)


def test_keras_nesterov_is_named_as_such():
    fit = lambda *a: keras_momentum(*a, nesterov=True)  # noqa: E731
    assert_named_first(verdict(checks.check_momentum_fit, fit, x=LINE.x, y=LINE.y, **SETTINGS), "nesterov_update")
