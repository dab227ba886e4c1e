"""Notebook 6, side by side."""
_MB = ("x, y = np.asarray(x, float), np.asarray(y, float)\nw, b = w0, b0\n{LOOP}\nreturn w, b")
_LEFT = dict(A="'lr'", B="'batch_size'", C="None", D="'start'", E="None", F="'optimizer'")


def _left_out(**wrong):
    entries = {**_LEFT, **wrong}
    return "left_out = {" + ", ".join(f"'{k}': {v}" for k, v in entries.items()) + "}"


CORRECT = [
    # Exercise 1 (issue 25): the default that makes each program differ.
    ("ex1-left-out", _left_out(), ()),
    ("ex1-left-out", "left_out = {'a': 'learning_rate', 'b': 'batch size', 'c': 'none', 'd': 'initializer', 'e': None, 'f': 'optimiser'}", ()),
    ("ex1-left-out", "left_out = dict(A='lr', B='batch_size', C=None, D='start', E=None, F='optimizer')", ()),
    ("ex1-left-out", "left_out = {p: None for p in 'ABCDEF'}\nleft_out.update(A='lr', B='batch_size', D='start', F='optimizer')", ()),
    ("ex1-left-out", "causes = ['lr', 'batch_size', None, 'start', None, 'optimizer']\nleft_out = dict(zip('ABCDEF', causes))", ()),
    ("ex2-minibatch-epoch", _MB.format(LOOP="for i in range(0, len(x), batch_size):\n    xb, yb = x[i:i + batch_size], y[i:i + batch_size]\n    r = w * xb + b - yb\n    w, b = w - lr * 2 * (r * xb).mean(), b - lr * 2 * r.mean()"), ()),
    ("ex2-minibatch-epoch", _MB.format(LOOP="for xb, yb in zip(np.array_split(x, np.arange(batch_size, len(x), batch_size)), np.array_split(y, np.arange(batch_size, len(y), batch_size))):\n    r = w * xb + b - yb\n    dw, db = 2 * np.dot(r, xb) / len(xb), 2 * np.sum(r) / len(xb)\n    w -= lr * dw\n    b -= lr * db"), ()),
]
MISTAKES = [
    ("ex2-minibatch-epoch", _MB.format(LOOP="r = w * x + b - y\nw, b = w - lr * 2 * (r * x).mean(), b - lr * 2 * r.mean()"), ("full_batch_count",)),
]
# A second class's slips (issue 27): each must be named.
_BATCHES = "for i in range(0, len(x), batch_size):\n    xb, yb = x[i:i + batch_size], y[i:i + batch_size]\n"
MISTAKES += [
    ("ex2-minibatch-epoch", _MB.format(LOOP="for i in range(len(x) // batch_size):\n    xb, yb = x[i * batch_size:(i + 1) * batch_size], y[i * batch_size:(i + 1) * batch_size]\n    r = w * xb + b - yb\n    w, b = w - lr * 2 * (r * xb).mean(), b - lr * 2 * r.mean()"), ("floor_batches",)),
    ("ex2-minibatch-epoch", _MB.format(LOOP="w_start, b_start = w, b\n" + _BATCHES + "    r = w_start * xb + b_start - yb\n    w, b = w - lr * 2 * (r * xb).mean(), b - lr * 2 * r.mean()"), ("stale_gradients",)),
    ("ex2-minibatch-epoch", _MB.format(LOOP=_BATCHES + "    r = w * xb + b - yb\n    w, b = w - lr * 2 * (r * xb).sum() / len(x), b - lr * 2 * r.sum() / len(x)"), ("divisor_n",)),
    ("ex2-minibatch-epoch", _MB.format(LOOP=_BATCHES + "    w = w - lr * 2 * ((w * xb + b - yb) * xb).mean()\n    b = b - lr * 2 * (w * xb + b - yb).mean()"), ("b_from_new_w",)),
    ("ex2-minibatch-epoch", _MB.format(LOOP=_BATCHES + "    r = w * xb + b - yb\n    w, b = w - lr * (r * xb).mean(), b - lr * r.mean()"), ("grad_half",)),
]
# Exercise 1 (issue 25): a default blamed that does not matter here, or one missed.
MISTAKES += [
    ("ex1-left-out", _left_out(C="'batch_size'"), ("default_batch_holds_all",)),
    ("ex1-left-out", _left_out(E="'reduction'"), ("reduction_default_mean",)),
    ("ex1-left-out", _left_out(A="None", E="'dtype'"), ("default_missed", "float32_blamed")),
    ("ex1-left-out", _left_out(B="'shuffle'"), ("default_written",)),
    ("ex1-left-out", _left_out(F="'lr'"), ("lr_not_optimizer",)),
]
SAYS = {}
