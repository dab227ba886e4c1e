"""A mistake's fix in the words of the framework its notebook uses (:func:`fix_for`).

:data:`MISTAKES`' own ``fix`` is the NumPy one (and the one for any style not
listed here); the entries below replace it for PyTorch with a manual update
(``torch``), ``torch.optim`` (``optim``), Keras (``keras``) and
``tf.GradientTape`` (``tf``), so that a Keras learner never reads
``torch.no_grad()`` and a NumPy learner never reads ``optimizer.zero_grad()``.
"""

from __future__ import annotations

from builtins import dict, isinstance, str

#: The styles a fix can be written for, and the learner function names that say which one a
#: notebook uses (``fit_keras`` → Keras).
STYLES = ("numpy", "torch", "optim", "keras", "tf")
_NAME_HINTS = (("keras", "keras"), ("optim", "optim"), ("tape", "tf"), ("tf", "tf"), ("torch", "torch"))

_FIXES = {
    "sum_reduction": dict(
        torch="average the loss: ((w * x + b - y) ** 2).mean(), not .sum()",
        optim="average the loss: nn.MSELoss() (its default reduction='mean')",
        keras="compile with loss='mse' (keras.losses.MeanSquaredError()), which averages",
        tf="average the loss: tf.reduce_mean(...), not tf.reduce_sum(...)"),
    "no_zero_grad": dict(
        numpy="compute a fresh gradient every epoch instead of adding to the previous one",
        torch="zero the gradients after each update: w.grad.zero_() and b.grad.zero_() (or w.grad = None)",
        optim="call optimizer.zero_grad() once per epoch, before loss.backward()",
        keras="call model.fit once; Keras computes a fresh gradient for every batch",
        tf="take a fresh tape.gradient each epoch and apply it once"),
    "sign_flip": dict(
        torch="step against the gradient: w -= lr * w.grad and b -= lr * b.grad",
        optim="minimise the loss itself (not -loss) with torch.optim.SGD(model.parameters(), lr=lr)",
        keras="minimise the loss as compiled (loss='mse'), with keras.optimizers.SGD(learning_rate=lr)",
        tf="step against the gradient: w.assign_sub(lr * dw) and b.assign_sub(lr * db)"),
    "grad_x2": dict(
        torch="use the lr you were given; autograd's gradient of ((w * x + b - y) ** 2).mean() needs no factor",
        optim="use the lr you were given: torch.optim.SGD(model.parameters(), lr=lr) on nn.MSELoss()",
        keras="use the lr you were given: keras.optimizers.SGD(learning_rate=lr) with loss='mse'",
        tf="use the lr you were given; tape.gradient of tf.reduce_mean((w * x + b - y) ** 2) needs no factor"),
    "grad_half": dict(
        torch="leave out the ½: the loss is ((w * x + b - y) ** 2).mean(), with the lr you were given",
        optim="use nn.MSELoss() as it is (no 0.5 ·) and the lr you were given",
        keras="compile with loss='mse' as it is and keras.optimizers.SGD(learning_rate=lr)",
        tf="leave out the ½: the loss is tf.reduce_mean((w * x + b - y) ** 2), with the lr you were given"),
    "only_w": dict(
        numpy="update b as well: b = b - lr * db",
        torch="update b as well: b -= lr * b.grad (b needs requires_grad=True)",
        optim="give the optimizer every parameter: torch.optim.SGD(model.parameters(), lr=lr)",
        keras="keep the bias trainable: Dense(1) with use_bias=True, and no frozen weights",
        tf="update b as well: b.assign_sub(lr * db), with b a tf.Variable in tape.gradient(loss, [w, b])"),
    "only_b": dict(
        numpy="update w as well: w = w - lr * dw",
        torch="update w as well: w -= lr * w.grad (w needs requires_grad=True)",
        optim="give the optimizer every parameter: torch.optim.SGD(model.parameters(), lr=lr)",
        keras="keep the kernel trainable: no frozen weights in the Dense layer",
        tf="update w as well: w.assign_sub(lr * dw), with w a tf.Variable in tape.gradient(loss, [w, b])"),
    "no_update": dict(
        numpy="assign and return the new values (w = w - lr * dw, b = b - lr * db) and make sure the loop runs",
        torch="update in place under torch.no_grad() (w -= lr * w.grad) and make sure the loop runs",
        optim="call optimizer.step() after loss.backward(), on an optimizer built from model.parameters()",
        keras="train the model you read the weights from: model.fit(...) with epochs=epochs, then get_weights()",
        tf="update the tf.Variable in place: w.assign_sub(lr * dw) (w = w - lr * dw makes a new tensor)"),
    "swapped": dict(
        numpy="keep the order (w, b): return w, b",
        torch="keep the order (w, b): return w.item(), b.item()",
        optim="keep the order (w, b): nn.Linear's .weight is w and its .bias is b",
        keras="keep the order (w, b): get_weights() is [kernel = w, bias = b]",
        tf="keep the order (w, b): return w, b"),
    "broadcast_nxn": dict(
        keras="give x and y the same shape (n, 1): y.reshape(-1, 1)",
        tf="give predictions and targets the same shape: tf.reshape(y, [-1])"),
    "diverged": dict(
        torch="use the lr you were given, average the loss (.mean()) and step against the gradient",
        optim="use the lr you were given with nn.MSELoss() (its mean), and minimise the loss",
        keras="use the lr you were given: keras.optimizers.SGD(learning_rate=lr) with loss='mse'",
        tf="use the lr you were given, tf.reduce_mean the loss and assign_sub the step"),
    "epochs_off": dict(
        keras="train for exactly the epochs you were given: model.fit(..., epochs=epochs)"),
    "wrong_lr": dict(
        optim="give the optimizer the lr argument: torch.optim.SGD(model.parameters(), lr=lr)",
        keras="compile with the lr argument: keras.optimizers.SGD(learning_rate=lr)",
        tf="use the lr argument in the update (w.assign_sub(lr * dw)) or in keras.optimizers.SGD(learning_rate=lr)"),
    "wrong_start": dict(
        optim="set the start in place: with torch.no_grad(): model.weight.fill_(w0); model.bias.fill_(b0)",
        keras="start from w0 and b0: model.set_weights([np.full((1, 1), w0), np.full((1,), b0)])",
        tf="start from the arguments: tf.Variable(float(w0)) and tf.Variable(float(b0))"),
    "square_of_mean": dict(
        torch="square each error, then average: ((w * x + b - y) ** 2).mean()",
        optim="square each error, then average: nn.MSELoss()(model(x), y) or ((model(x) - y) ** 2).mean()",
        keras="compile with loss='mse', the mean of the squared errors",
        tf="square each error, then average: tf.reduce_mean((w * x + b - y) ** 2)"),
    "zero_before_update": dict(
        numpy="keep the gradient until both updates have used it",
        torch="zero after the update: with torch.no_grad(): w -= lr * w.grad ...; then w.grad.zero_() and "
              "b.grad.zero_()",
        optim="call optimizer.zero_grad() before loss.backward() (or after optimizer.step()), never between "
              "backward() and step()",
        keras="call model.fit once on the compiled model; it zeroes nothing you have to manage",
        tf="apply the gradient tape.gradient returned before computing a new one"),
    "zero_one_grad": dict(
        optim="zero every parameter's gradient: optimizer.zero_grad() (it covers model.parameters())"),
    "crossed_grad": dict(
        torch="update each parameter with its own gradient: w -= lr * w.grad and b -= lr * b.grad",
        optim="let the optimizer pair them: torch.optim.SGD(model.parameters(), lr=lr) and optimizer.step()",
        tf="pair each gradient with its variable: zip([dw, db], [w, b]), w.assign_sub(lr * dw), "
           "b.assign_sub(lr * db)"),
    "b_from_new_w": dict(
        torch="take both gradients from one backward() and update both after it",
        tf="take both gradients from one tape.gradient(loss, [w, b]) and update both after it"),
    "relu_activation": dict(
        torch="leave the output linear: w * x + b (or nn.Linear alone), with no torch.relu",
        optim="leave the output linear: nn.Linear(1, 1) alone, with no nn.ReLU after it",
        tf="leave the output linear: w * x + b, with no tf.nn.relu"),
    "minibatches": dict(
        numpy="use every point in every update: one full-batch update per epoch"),
    "shuffled_minibatches": dict(
        numpy="use every point in every update, in order: one full-batch update per epoch"),
}


def fix_for(mistake_id: str, style: str, default: str) -> str:
    """``mistake_id``'s fix for ``style`` (``default``, the catalog's own fix, where none is listed)."""
    return _FIXES.get(mistake_id, {}).get(style, default)


def style_of(function_name, framework: str = "numpy") -> str:
    """The style a learner's function name says (``fit_keras`` → ``keras``), else ``framework``'s."""
    name = function_name.lower() if isinstance(function_name, str) else ""
    for hint, style in _NAME_HINTS:
        if hint in name:
            return style
    return framework if framework in STYLES else "numpy"

