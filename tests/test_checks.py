"""course.checks: every form a learner holds a number in is accepted, every wrong kind gets one clear
sentence, messages show expected and received values, and the function checks call real code."""

import builtins
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from course import checks, data
from course import reference as R
from course.convert import to_array, to_float

TINY = data.tiny_line()
SETTINGS = dict(lr=0.05, epochs=100)
EXERCISE = dict(x=TINY.x, y=TINY.y, **SETTINGS)
REF = R.fit_numpy(TINY.x, TINY.y, **SETTINGS)


@pytest.fixture(scope="module")
def tf():
    return R.quiet_tensorflow()


def passes(capsys, w, b, losses=None, **exercise):
    checks.check_fit(w, b, losses, **(exercise or EXERCISE))
    out = capsys.readouterr()
    assert out.out.count("\n") == 1 and out.out.startswith("✓ check_fit") and out.err == ""
    return out.out


def message_of(call, *args, **kwargs):
    with pytest.raises(AssertionError) as info:
        call(*args, **kwargs)
    return str(info.value)


# --- every form of a number ------------------------------------------------------------------

NUMBER_FORMS = {
    "python float": lambda v: float(v),
    "numpy float32": lambda v: np.float32(v),
    "numpy float64": lambda v: np.float64(v),
    "array ()": lambda v: np.array(v, dtype=np.float32),
    "array (1,)": lambda v: np.array([v], dtype=np.float32),
    "array (1, 1)": lambda v: np.array([[v]], dtype=np.float32),
    "list": lambda v: [v],
    "torch 0-d": lambda v: torch.tensor(v),
    "torch requires_grad": lambda v: torch.tensor(v, requires_grad=True) * 1.0,
    "torch (1, 1) Parameter": lambda v: torch.nn.Parameter(torch.tensor([[v]])),
    "torch float64": lambda v: torch.tensor([v], dtype=torch.float64),
}


@pytest.mark.parametrize("form", NUMBER_FORMS)
def test_every_form_of_w_and_b_passes(form, capsys):
    make = NUMBER_FORMS[form]
    passes(capsys, make(REF.w), make(REF.b))


def test_an_integer_answer_is_accepted(capsys):
    d = data.make_line(n=5, w=0, b=0, noise=0.0, seed=1)  # y = 0: from (0, 0) nothing moves
    passes(capsys, 0, 0, x=d.x, y=d.y, lr=0.1, epochs=3)
    passes(capsys, np.int64(0), [0], x=d.x, y=d.y, lr=0.1, epochs=3)


LOSS_FORMS = {
    "list of floats": lambda L: [float(v) for v in L],
    "float32 array": lambda L: L.astype(np.float32),
    "column array": lambda L: L.reshape(-1, 1),
    "torch tensor": lambda L: torch.tensor(L, dtype=torch.float32),
    "list of 0-d tensors with grad": lambda L: [torch.tensor(v, requires_grad=True) * 1.0 for v in L],
    "list of numpy scalars": lambda L: [np.float32(v) for v in L],
}


@pytest.mark.parametrize("form", LOSS_FORMS)
def test_every_form_of_the_loss_history_passes(form, capsys):
    assert "all 100 losses" in passes(capsys, REF.w, REF.b, LOSS_FORMS[form](REF.losses))


def test_torch_manual_and_optim_results_pass_as_the_learner_holds_them(capsys):
    X, Y = torch.tensor(TINY.x).reshape(-1, 1), torch.tensor(TINY.y).reshape(-1, 1)
    model = torch.nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.zero_()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    losses = []
    for _ in range(100):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(X), Y)
        loss.backward()
        optimizer.step()
        losses.append(loss)  # tensors that still carry their graph
    passes(capsys, model.weight, model.bias, losses)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_tensors_pass(capsys):
    result = R.fit_torch_manual(TINY.x, TINY.y, **SETTINGS, device="cuda")
    w = torch.tensor(result.w, device="cuda", requires_grad=True)
    passes(capsys, w, torch.tensor([result.b], device="cuda"), torch.tensor(result.losses, device="cuda"))


def test_tensorflow_and_keras_forms_pass(tf, capsys):
    result = R.fit_tape(TINY.x, TINY.y, **SETTINGS)
    passes(capsys, tf.Variable(result.w), tf.constant([result.b]), tf.constant(result.losses))
    model = R.build_keras_model(0.0, 0.0, lr=0.05)
    history = model.fit(TINY.x.reshape(-1, 1), TINY.y.reshape(-1, 1), batch_size=6, epochs=20, verbose=0,
                        shuffle=False)
    kernel, bias = model.get_weights()
    ex = dict(x=TINY.x, y=TINY.y, lr=0.05, epochs=20)
    passes(capsys, kernel, bias, history, **ex)  # get_weights() arrays and the History itself
    passes(capsys, model.layers[0].kernel, model.layers[0].bias, history.history, **ex)  # Keras variables
    whole = message_of(checks.check_fit, model.get_weights(), bias, **ex)
    assert "looks like the whole model.get_weights()" in whole and "first item as w" in whole
    assert "received a Keras model (Sequential)" in message_of(checks.check_fit, model, bias, **ex)
    # Keras gives [kernel, bias]: reading them the other way round is a named mistake
    b_wrong, w_wrong = model.get_weights()
    assert checks.diagnose(w_wrong, b_wrong, history, **ex) == ["swapped"]


def test_a_keras_fit_function_returns_the_loss_list_not_its_history(tf, capsys):
    """Notebook 4's Exercise 3 prints len(losses): a History has no len(), so Exercise 2 names it."""
    def fit_keras(x, y, lr, epochs, w0=0.0, b0=0.0, whole=False):
        model = R.build_keras_model(w0, b0, lr=lr)
        history = model.fit(x.reshape(-1, 1), y.reshape(-1, 1), batch_size=len(x), epochs=epochs, verbose=0,
                            shuffle=False)
        kernel, bias = model.get_weights()
        return kernel, bias, (history if whole else history.history["loss"])

    checks.check_fit_function(fit_keras, x=TINY.x, y=TINY.y, lr=0.05, epochs=15, w0=0.5, b0=-0.5)
    assert capsys.readouterr().out.startswith("✓ check_fit_function")
    with pytest.raises(AssertionError) as info:
        checks.check_fit_function(lambda *a: fit_keras(*a, whole=True), x=TINY.x, y=TINY.y, lr=0.05, epochs=15,
                                  w0=0.5, b0=-0.5)
    assert checks.mistake_ids(str(info.value)) == ["history_object"]
    assert "history.history['loss']" in str(info.value).splitlines()[0]


# --- wrong kinds: one sentence each, never a crash ----------------------------------------------


class FloatRaises:
    def __float__(self):
        raise RuntimeError("boom")

    def __repr__(self):
        raise RuntimeError("repr is broken too")


WRONG_W = [
    (None, "received None"),
    ("1.5", "received the string '1.5'"),
    (True, "received the bool True"),
    (1 + 2j, "complex number"),
    (10 ** 400, "an integer with 401 digits"),
    (np.array([]), "an empty array of shape (0,)"),
    (np.array([1.0, 2.0]), "an array of shape (2,)"),
    ([1.0, 2.0, 3.0], "a list of 3 items"),
    ({"w": 1.0}, "a dict (keys: 'w')"),
    (torch.nn.Linear(1, 1), "a PyTorch model (Linear)"),
    (lambda: 1.0, "did you forget to call it?"),
    (FloatRaises(), "float() raised RuntimeError: boom"),
    (object(), "an object of type object"),
]


@pytest.mark.parametrize("value, said", WRONG_W, ids=[repr(s) for _, s in WRONG_W])
def test_a_wrong_kind_of_w_gets_one_clear_sentence(value, said):
    message = message_of(checks.check_fit, value, REF.b, **EXERCISE)
    assert message.startswith("w should be") and said in message
    assert message.count(".\n") == 0 and "Traceback" not in message


@pytest.mark.parametrize("losses, said", [
    ("abc", "received the string 'abc'"),
    (5.0, "received the single number 5.0"),
    (np.zeros((3, 3)), "one row of numbers, but received an array of shape (3, 3)"),
    ([None] * 100, "losses[0] should be a number, but received None"),
    ({"accuracy": [1.0]}, "a dict (keys: 'accuracy')"),
    (np.zeros(99), "expected 100 values, received 99"),
    ([], "expected 100 values, received 0"),
])
def test_a_wrong_kind_of_loss_history_gets_a_clear_sentence(losses, said):
    assert said in message_of(checks.check_fit, REF.w, REF.b, losses, **EXERCISE)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), 1e300, np.float32("nan")])
def test_nan_inf_and_huge_values_become_a_message(value):
    message = message_of(checks.check_fit, value, REF.b, list(REF.losses), **EXERCISE)
    assert "\nw is wrong: expected 1.9976, received " in message
    assert "[mistake: diverged]" in message and "lr < " in message


def test_nan_in_the_losses_only_is_plainly_wrong():
    losses = REF.losses.copy()
    losses[3] = np.nan
    message = message_of(checks.check_fit, REF.w, REF.b, losses, **EXERCISE)
    assert "losses are wrong from epoch 3 on (1 of 100 differ)" in message and "received nan" in message


def test_settings_that_make_no_sense_fail_cleanly():
    assert "cannot run: lr must be a positive number" in message_of(
        checks.check_fit, 1.0, 1.0, x=TINY.x, y=TINY.y, lr=-1, epochs=3)
    assert "x and y hold different numbers of points (6 and 5)" in message_of(
        checks.check_fit, 1.0, 1.0, x=TINY.x, y=TINY.y[:5], lr=0.1, epochs=3)
    assert "needs a whole number of epochs" in message_of(
        checks.check_fit, 1.0, 1.0, x=TINY.x, y=TINY.y, lr=0.1, epochs="ten")


def test_the_data_may_arrive_as_tensors_of_any_shape(capsys):
    passes(capsys, REF.w, REF.b, x=torch.tensor(TINY.x).reshape(-1, 1), y=list(TINY.y), **SETTINGS)


def test_diagnose_never_raises_on_unreadable_input():
    assert checks.diagnose("w", None, x=TINY.x, y=TINY.y, **SETTINGS) == []
    assert checks.diagnose(REF.w, REF.b, "losses", x=TINY.x, y=TINY.y, **SETTINGS) == []


def test_conversion_helpers_directly():
    assert to_float(np.array([[2.5]]), "w") == 2.5
    assert to_float(torch.tensor([1.5], dtype=torch.bfloat16), "w") == 1.5
    np.testing.assert_array_equal(to_array(torch.tensor([[1.0], [2.0]]), "x"), [1.0, 2.0])
    assert to_array((np.float32(1), 2, 3.5), "losses").dtype == np.float64


# --- messages --------------------------------------------------------------------------------


def test_a_wrong_answer_shows_expected_and_received_values_rounded():
    message = message_of(checks.check_fit, REF.w + 0.25, REF.b, **EXERCISE)
    first = message.splitlines()[0]
    assert first == f"w is wrong: expected {REF.w:.5g}, received {REF.w + 0.25:.5g} (b = {REF.b:.5g} is right)."
    assert "lr=0.05, epochs=100, w0=0, b0=0, reduction='mean'" in message
    assert "match none of the mistakes" in message and checks.mistake_ids(message) == []


def test_more_digits_only_when_five_cannot_tell_the_values_apart():
    w = REF.w * (1 + 3e-4)  # wrong by more than the tolerance, equal to 4 digits
    first = message_of(checks.check_fit, w, REF.b, **EXERCISE).splitlines()[0]
    expected, received = first.split("expected ")[1].split(", received ")
    assert expected != received.split(" ")[0]
    assert len(expected) <= len(f"{REF.w:.7g}")


def test_a_named_mistake_ends_with_a_machine_readable_line():
    result = R.fit_numpy(TINY.x, TINY.y, lr=0.01, epochs=100, reduction="sum")
    message = message_of(checks.check_fit, result.w, result.b, result.losses, x=TINY.x, y=TINY.y, lr=0.01,
                         epochs=100)
    assert message.splitlines()[-1] == "[mistake: sum_reduction]"
    assert checks.mistake_ids(message) == ["sum_reduction"]
    assert checks.mistake_ids("no mistake here") == []
    assert checks.mistake_ids("x\n[mistake: diverged, sign_flip]") == ["diverged", "sign_flip"]


def test_success_is_one_short_line(capsys):
    out = passes(capsys, REF.w, REF.b, REF.losses)
    assert out == (f"✓ check_fit: w = {REF.w:.5g}, b = {REF.b:.5g} and all 100 losses match the reference "
                   "(lr=0.05, epochs=100).\n")


# --- tampering and imports ----------------------------------------------------------------------


def test_rebinding_numpy_and_builtins_in_a_session_changes_no_verdict(monkeypatch, capsys):
    monkeypatch.setattr(np, "isclose", lambda *a, **k: True)
    monkeypatch.setattr(np, "allclose", lambda *a, **k: True)
    monkeypatch.setattr(np, "abs", lambda a: 0 * a)
    monkeypatch.setattr(np, "all", lambda *a, **k: True)
    monkeypatch.setattr(builtins, "abs", lambda a: 0)
    monkeypatch.setattr(builtins, "print", lambda *a, **k: None)
    with pytest.raises(AssertionError, match="w is wrong"):
        checks.check_fit(REF.w + 1.0, REF.b, **EXERCISE)
    checks.check_fit(REF.w, REF.b, **EXERCISE)
    assert capsys.readouterr().out.startswith("✓")  # the check kept its own print


def test_importing_the_checks_imports_no_framework():
    code = ("import sys, course.checks, course.mistakes, course.convert; "
            "print(sorted(m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- the function checks ---------------------------------------------------------------------


def np_predict(x, w, b):
    return w * x + b


def np_mse(y_pred, y):
    return np.mean((y_pred - y) ** 2)


def np_gradients(x, y, w, b):
    residual = w * x + b - y
    return 2 * np.mean(residual * x), 2 * np.mean(residual)


def np_step(x, y, w, b, lr):
    dw, db = np_gradients(x, y, w, b)
    return w - lr * dw, b - lr * db


def np_fit(x, y, lr, epochs, w0=0.0, b0=0.0):
    w, b, losses = w0, b0, []
    for _ in range(epochs):
        losses.append(np_mse(np_predict(x, w, b), y))
        w, b = np_step(x, y, w, b, lr)
    return w, b, losses


@pytest.mark.parametrize("seed", [0, 1, 42])
def test_correct_numpy_functions_pass_on_every_seed(seed, capsys):
    checks.check_predict(np_predict, seed=seed)
    checks.check_mse(np_mse, seed=seed)
    checks.check_gradients(np_gradients, seed=seed)
    checks.check_step(np_step, seed=seed)
    checks.check_fit_function(np_fit, x=TINY.x, y=TINY.y, lr=0.05, epochs=50, w0=0.5 * seed, b0=-0.1 * seed)
    out = capsys.readouterr()
    assert out.out.count("✓") == 5 and out.err == ""


def test_correct_torch_functions_pass(capsys):
    def gradients(x, y, w, b):  # autograd on copies of the inputs
        w, b = w.clone().requires_grad_(True), b.clone().requires_grad_(True)
        ((w * x + b - y) ** 2).mean().backward()
        return w.grad, b.grad

    def step(x, y, w, b, lr):  # the in-place update of notebook 2, on leaves that require grad
        ((w * x + b - y) ** 2).mean().backward()
        with torch.no_grad():
            w -= lr * w.grad
            b -= lr * b.grad
        return w, b

    def fit(x, y, lr, epochs, w0=0.0, b0=0.0):
        w = torch.tensor(w0, requires_grad=True)
        b = torch.tensor(b0, requires_grad=True)
        optimizer, losses = torch.optim.SGD([w, b], lr=lr), []
        for _ in range(epochs):
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(w * x + b, y)
            loss.backward()
            optimizer.step()
            losses.append(loss)
        return w, b, losses

    checks.check_predict(np_predict, framework="torch")
    checks.check_mse(torch.nn.functional.mse_loss, framework="torch")
    checks.check_gradients(gradients, framework="torch")
    checks.check_step(step, framework="torch", requires_grad=True)
    checks.check_fit_function(fit, x=TINY.x, y=TINY.y, lr=0.05, epochs=60, framework="torch")
    assert capsys.readouterr().out.count("✓") == 5


def test_correct_tensorflow_functions_pass(tf, capsys):
    def gradients(x, y, w, b):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(w * x + b - y))
        return tape.gradient(loss, [w, b])

    def step(x, y, w, b, lr):
        dw, db = gradients(x, y, w, b)
        w.assign_sub(lr * dw)
        b.assign_sub(lr * db)
        return w, b

    checks.check_predict(np_predict, framework="tf", seed=3)
    checks.check_mse(lambda y_pred, y: tf.reduce_mean(tf.square(y_pred - y)), framework="tf")
    checks.check_gradients(gradients, framework="tf")
    checks.check_step(step, framework="tf")
    assert capsys.readouterr().out.count("✓") == 4


def scaled(function, factor):
    return lambda *args: tuple(factor * value for value in function(*args))


FUNCTION_MISTAKES = [
    (checks.check_predict, lambda x, w, b: b * x + w, "swapped"),
    (checks.check_mse, lambda y_pred, y: np.sum((y_pred - y) ** 2), "sum_reduction"),
    (checks.check_mse, lambda y_pred, y: np.sqrt(np.mean((y_pred - y) ** 2)), "rmse"),
    (checks.check_mse, lambda y_pred, y: np.mean(np.abs(y_pred - y)), "abs_error"),
    (checks.check_mse, lambda y_pred, y: 0.5 * np.mean((y_pred - y) ** 2), "half_loss"),
    (checks.check_gradients, scaled(np_gradients, -1.0), "sign_flip"),
    (checks.check_gradients, scaled(np_gradients, 0.5), "grad_half"),
    (checks.check_gradients, scaled(np_gradients, 2.0), "grad_x2"),
    (checks.check_gradients, lambda x, y, w, b: np_gradients(x, y, w, b)[::-1], "swapped"),
    (checks.check_gradients, lambda x, y, w, b: (2 * np.sum((w * x + b - y) * x), 2 * np.sum(w * x + b - y)),
     "sum_reduction"),
    (checks.check_step, lambda x, y, w, b, lr: np_step(x, y, w, b, -lr), "sign_flip"),
    (checks.check_step, lambda x, y, w, b, lr: (np_step(x, y, w, b, lr)[0], b), "only_w"),
    (checks.check_step, lambda x, y, w, b, lr: (w, np_step(x, y, w, b, lr)[1]), "only_b"),
    (checks.check_step, lambda x, y, w, b, lr: (w, b), "no_update"),
    (checks.check_step, lambda x, y, w, b, lr: np_step(x, y, w, b, 0.01), "wrong_lr"),
    (checks.check_step, lambda x, y, w, b, lr: np_step(x, y, w, b, 2 * lr), "grad_x2"),
]


@pytest.mark.parametrize("check, function, mistake", FUNCTION_MISTAKES,
                         ids=[f"{c.__name__}-{m}" for c, _, m in FUNCTION_MISTAKES])
def test_function_mistakes_are_named(check, function, mistake):
    message = message_of(check, function, seed=5)
    assert checks.mistake_ids(message) == [mistake], message
    assert "expected" in message and "received" in message


def test_an_unknown_wrong_function_gets_no_name():
    message = message_of(checks.check_predict, lambda x, w, b: w * x)
    assert checks.mistake_ids(message) == [] and "[mistake" not in message
    assert message.startswith("predict(x, w=") and "is wrong at x = " in message


def test_a_copied_number_cannot_pass_a_hidden_seed(capsys):
    visible = checks.exercise_data(0)
    copied = visible.w * visible.x + visible.b
    checks.check_predict(lambda x, w, b: copied, seed=0)
    with pytest.raises(AssertionError):
        checks.check_predict(lambda x, w, b: copied, seed=1)


def test_the_unwritten_stub_says_so():
    def step(x, y, w, b, lr):
        raise NotImplementedError()

    assert message_of(checks.check_step, step) == (
        "You have not written step yet (the cell still raises NotImplementedError).")


def test_an_exception_in_the_learners_function_is_reported_with_its_message():
    def gradients(x, y, w, b):
        return x.T @ (w * x + b - y)[:3]

    message = message_of(checks.check_gradients, gradients)
    assert message.startswith("Calling gradients(x, y, w=") and "raised ValueError:" in message


@pytest.mark.parametrize("returned, said", [
    (None, "should return (dw, db), but returned None"),
    (1.0, "should return (dw, db), but returned 1.0"),
    ((1.0, "2"), "db should be a number, but received the string '2'"),
    ((1.0, 2.0, 3.0), "should return (dw, db), but returned a tuple of 3 items"),
])
def test_a_wrong_kind_of_return_value_is_described(returned, said):
    assert said in message_of(checks.check_gradients, lambda x, y, w, b: returned)


def test_predict_returning_the_wrong_number_of_values_is_described():
    message = message_of(checks.check_predict, lambda x, w, b: (w * x + b)[:3])
    assert "should return one prediction per point of x (7), but returned 3 values" in message


def test_not_a_function_is_described():
    assert message_of(checks.check_mse, 3.0) == "mse should be a function, but received 3.0."


def test_a_warning_in_the_learners_code_is_kept_off_stderr_and_quoted_on_failure(capsys):
    def mse(y_pred, y):
        warnings.warn("something odd", RuntimeWarning)
        return np.sum((y_pred - y) ** 2)

    message = message_of(checks.check_mse, mse)
    assert "(While running, your code warned: RuntimeWarning: something odd)" in message
    assert message.splitlines()[-1] == "[mistake: sum_reduction]"
    assert capsys.readouterr().err == ""


def test_the_fit_function_must_return_three_things():
    message = message_of(checks.check_fit_function, lambda x, y, lr, epochs, w0, b0: (1.0, 2.0),
                         x=TINY.x, y=TINY.y, lr=0.05, epochs=10)
    assert message == ("fit(x, y, lr=0.05, epochs=10, w0=0, b0=0) should return (w, b, losses), "
                       "but returned a tuple of 2 items.")


def test_exercise_data_differs_by_seed_and_rejects_a_bad_seed():
    a, b = checks.exercise_data(0), checks.exercise_data(1)
    assert a.x.shape == (7,) and not np.allclose(a.x, b.x) and (a.w, a.b) != (b.w, b.b)
    with pytest.raises(ValueError):
        checks.exercise_data(-1)


def test_unknown_framework_is_a_programming_error():
    with pytest.raises(ValueError, match="framework"):
        checks.check_predict(np_predict, framework="jax")


# --- "predict the number" ----------------------------------------------------------------------


def test_check_value(capsys):
    expected = R.mse(2.0, -1.0, TINY.x, TINY.y + 1.0)
    checks.check_value(np.float32(expected), expected, name="loss")
    assert capsys.readouterr().out == f"✓ loss = {expected:.5g} is right.\n"
    assert message_of(checks.check_value, 0.5, expected, name="loss") == (
        f"loss is wrong: expected {expected:.5g}, received 0.5.")
    assert "loss should be a number, but received the string" in message_of(
        checks.check_value, "1", expected, name="loss")
    losses = R.fit_numpy(TINY.x, TINY.y, lr=0.1, epochs=3).losses
    checks.check_value(torch.tensor(losses), losses, name="losses")
    assert "losses[1] is wrong" in message_of(checks.check_value, losses * [1, 2, 1], losses, name="losses")


# --------------------------------------------------------------------------- check_glorot_limit (notebook 4)

GLOROT_MISTAKES = [
    (lambda i, o: 2 / (i + o), "glorot_variance"),
    (lambda i, o: np.sqrt(2 / (i + o)), "glorot_std"),
    (lambda i, o: 6 / (i + o), "glorot_no_sqrt"),
    (lambda i, o: 2 * np.sqrt(6 / (i + o)), "glorot_full_width"),
    (lambda i, o: np.sqrt(6 / i), "glorot_fan_in"),
    (lambda i, o: np.sqrt(3 / i), "glorot_fan_in"),
    (lambda i, o: 1 / np.sqrt(i), "torch_linear_bound"),
]


def test_glorot_limit_right_answers_pass_in_any_form(capsys, tf):
    import keras

    checks.check_glorot_limit(lambda i, o: np.sqrt(6 / (i + o)))
    checks.check_glorot_limit(lambda i, o: tf.sqrt(6.0 / float(i + o)), fans=((784, 128), (128, 10)))
    # What Keras draws: a big layer's largest |kernel| entry comes within 0.1% of the limit.
    kernel = keras.layers.Dense(300)
    kernel.build((None, 200))
    drawn = float(np.abs(kernel.get_weights()[0]).max())
    assert abs(drawn - np.sqrt(6 / 500)) <= 1e-3 * np.sqrt(6 / 500)
    assert capsys.readouterr().out.count("✓") == 2


@pytest.mark.parametrize("function, mistake", GLOROT_MISTAKES, ids=[m for _, m in GLOROT_MISTAKES])
def test_glorot_limit_mistakes_are_named(function, mistake, tf):
    message = message_of(checks.check_glorot_limit, function)
    assert checks.mistake_ids(message) == [mistake], message
    assert "\nglorot_limit(" in message and "expected" in message and "received" in message


def test_glorot_limit_unknown_answers_and_stubs(tf):
    message = message_of(checks.check_glorot_limit, lambda i, o: 0.3)
    assert checks.mistake_ids(message) == [] and "variance ℓ²/3" in message

    def stub(i, o):
        raise NotImplementedError()

    assert "not written glorot_limit yet" in message_of(checks.check_glorot_limit, stub)


# ---------------------------------------------------------------------------------------------
# What a student sees: the verdict alone (issue 13).


def test_a_failed_check_renders_its_message_without_course_frames():
    from course.convert import CheckFailed

    with pytest.raises(CheckFailed) as caught:
        checks.check_mse(lambda y_pred, y: np.sum((y_pred - y) ** 2))
    error = caught.value
    assert isinstance(error, AssertionError)  # nbgrader still sees an error
    assert "[mistake: sum_reduction]" in str(error)  # the report reads this back
    shown = "\n".join(error._render_traceback_())
    assert "check_mse" in shown and "loss summed instead of averaged" in shown and "Fix:" in shown
    assert "[mistake:" not in shown and "course/" not in shown and "File " not in shown
    assert all(len(line) <= 110 for line in shown.splitlines())


def test_the_learners_own_frames_are_kept_when_their_code_raised():
    from course.convert import CheckFailed

    def broken(x, w, b):
        return helper(x)

    def helper(x):
        raise KeyError("oops")

    with pytest.raises(CheckFailed) as caught:
        checks.check_predict(broken)
    shown = "\n".join(caught.value._render_traceback_())
    assert "KeyError" in shown and "in broken" in shown and "in helper" in shown
    assert "course/checks" not in shown and "in _call" not in shown
