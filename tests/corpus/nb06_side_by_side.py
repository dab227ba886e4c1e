"""Notebook 6, side by side."""
_MB = ("x, y = np.asarray(x, float), np.asarray(y, float)\nw, b = w0, b0\n{LOOP}\nreturn w, b")
CORRECT = [
    ("ex1-styles-that-differ", "base = results['numpy'].final_loss\nreturn list(filter(lambda k: abs(results[k].final_loss - base) > rtol * abs(base), results))", ()),
    ("ex1-styles-that-differ", "base = results['numpy'].final_loss\nreturn {k for k, r in results.items() if not np.isclose(r.final_loss, base, rtol=rtol, atol=0)}", ()),
    ("ex2-updates-per-epoch", "updates_per_epoch = 4", ()),
    ("ex2-updates-per-epoch", "import math\nupdates_per_epoch = math.ceil(100 / 32)", ()),
    ("ex2-updates-per-epoch", "updates_per_epoch = -(-100 // 32)", ()),
    ("ex3-minibatch-epoch", _MB.format(LOOP="for i in range(0, len(x), batch_size):\n    xb, yb = x[i:i + batch_size], y[i:i + batch_size]\n    r = w * xb + b - yb\n    w, b = w - lr * 2 * (r * xb).mean(), b - lr * 2 * r.mean()"), ()),
    ("ex3-minibatch-epoch", _MB.format(LOOP="for xb, yb in zip(np.array_split(x, np.arange(batch_size, len(x), batch_size)), np.array_split(y, np.arange(batch_size, len(y), batch_size))):\n    r = w * xb + b - yb\n    dw, db = 2 * np.dot(r, xb) / len(xb), 2 * np.sum(r) / len(xb)\n    w -= lr * dw\n    b -= lr * db"), ()),
]
MISTAKES = [
    ("ex2-updates-per-epoch", "updates_per_epoch = 100 // 32", ("floor_batches",)),
    ("ex2-updates-per-epoch", "updates_per_epoch = 100", ("one_per_sample",)),
    ("ex2-updates-per-epoch", "updates_per_epoch = 1", ("full_batch_count",)),
    ("ex3-minibatch-epoch", _MB.format(LOOP="r = w * x + b - y\nw, b = w - lr * 2 * (r * x).mean(), b - lr * 2 * r.mean()"), ("full_batch_count",)),
    ("ex1-styles-that-differ", "base = results['numpy'].final_loss\nreturn [k for k, r in results.items() if abs(r.final_loss - base) > rtol]", ("absolute_tolerance",)),
]
# A second class's slips (issue 27): each must be named.
_BATCHES = "for i in range(0, len(x), batch_size):\n    xb, yb = x[i:i + batch_size], y[i:i + batch_size]\n"
MISTAKES += [
    ("ex1-styles-that-differ", "base = results['numpy'].final_loss\nreturn [k for k, r in results.items() if not np.isclose(r.final_loss, base, rtol=rtol)]", ("isclose_atol",)),
    ("ex1-styles-that-differ", "base = results['numpy'].final_loss\nreturn [k for k, r in results.items() if r.final_loss - base > rtol * abs(base)]", ("no_abs",)),
    ("ex2-updates-per-epoch", "updates_per_epoch = 100 / 32", ("not_whole",)),
    ("ex3-minibatch-epoch", _MB.format(LOOP="for i in range(len(x) // batch_size):\n    xb, yb = x[i * batch_size:(i + 1) * batch_size], y[i * batch_size:(i + 1) * batch_size]\n    r = w * xb + b - yb\n    w, b = w - lr * 2 * (r * xb).mean(), b - lr * 2 * r.mean()"), ("floor_batches",)),
    ("ex3-minibatch-epoch", _MB.format(LOOP="w_start, b_start = w, b\n" + _BATCHES + "    r = w_start * xb + b_start - yb\n    w, b = w - lr * 2 * (r * xb).mean(), b - lr * 2 * r.mean()"), ("stale_gradients",)),
    ("ex3-minibatch-epoch", _MB.format(LOOP=_BATCHES + "    r = w * xb + b - yb\n    w, b = w - lr * 2 * (r * xb).sum() / len(x), b - lr * 2 * r.sum() / len(x)"), ("divisor_n",)),
    ("ex3-minibatch-epoch", _MB.format(LOOP=_BATCHES + "    w = w - lr * 2 * ((w * xb + b - yb) * xb).mean()\n    b = b - lr * 2 * (w * xb + b - yb).mean()"), ("b_from_new_w",)),
    ("ex3-minibatch-epoch", _MB.format(LOOP=_BATCHES + "    r = w * xb + b - yb\n    w, b = w - lr * (r * xb).mean(), b - lr * r.mean()"), ("grad_half",)),
]
SAYS = {}
