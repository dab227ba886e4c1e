"""Notebook 1, NumPy by hand."""
#: Exercise 7's Hessian, from means; the list of rates above the bound.
_H_MEAN = "x3 = table.x\nH_003 = 2 * np.array([[np.mean(x3 ** 2), np.mean(x3)], [np.mean(x3), 1.0]])\n"
_DIVERGING = "diverging_003 = [lr for lr in lr_candidates if lr > lr_max_003]"
#: Exercise 8's standardisation and fit, before the map back.
_SCALED = ("mu, sigma = table.x.mean(), table.x.std()\nx_scaled = (table.x - mu) / sigma\n"
           "w_scaled, b_scaled, losses_scaled = fit(x_scaled, table.y, lr=0.1, epochs=100)\n")
CORRECT = [
    ("ex1-predict", "return b + x * w", ()),
    ("ex1-predict", "return np.add(np.multiply(w, x), b)", ()),
    ("ex2-mse", "return np.dot(y_pred - y, y_pred - y) / len(y)", ()),
    ("ex2-mse", "return ((y_pred - y) ** 2).sum() / y.size", ()),
    ("ex2-mse", "return float(np.square(np.subtract(y_pred, y)).mean())", ()),
    ("ex3-first-loss", "first_loss = 15.67", ()),
    ("ex3-first-loss", "first_loss = 94 / 6", ()),
    ("ex3-first-loss", "first_loss = 15.6667", ()),
    ("ex4-gradients", "r = w * x + b - y\nreturn np.array([2 * np.mean(r * x), 2 * np.mean(r)])", ()),
    ("ex4-gradients", "r = predict(x, w, b) - y\nreturn [2 * np.dot(r, x) / len(x), 2 * r.sum() / len(x)]", ()),
    ("ex5-step", "dw, db = gradients(x, y, w, b)\nw = w - lr * dw\nb = b - lr * db\nreturn (w, b)", ()),
    ("ex6-fit", "w, b = float(w0), float(b0)\nlosses = np.zeros(epochs)\nfor i in range(epochs):\n    losses[i] = mse(predict(x, w, b), y)\n    w, b = step(x, y, w, b, lr)\nreturn w, b, losses", ()),
    # Exercise 7 (issue 25): H built by hand for article 003's x, 2 / λ_max, and the rates above it.
    ("ex7-stable-lr", "n3 = len(table.x)\nH_003 = np.zeros((2, 2))\nfor xi in table.x:\n"
     "    H_003 = H_003 + 2 / n3 * np.array([[xi ** 2, xi], [xi, 1.0]])\n"
     "lam = np.linalg.eigvalsh(H_003)\nlr_max_003 = 2 / lam[-1]\n"
     "diverging_003 = []\nfor lr in lr_candidates:\n    if lr > lr_max_003:\n        diverging_003.append(lr)", ()),
    ("ex7-stable-lr", _H_MEAN + "lr_max_003 = 2 / max(np.linalg.eigvalsh(H_003))\n" + _DIVERGING, ()),
    ("ex7-stable-lr", "X3 = np.column_stack([table.x, np.ones_like(table.x)])\nH_003 = 2 / len(X3) * X3.T @ X3\n"
     "lr_max_003 = float(2 / np.linalg.eigvalsh(H_003)[1])\n"
     "rates = np.array(lr_candidates)\ndiverging_003 = rates[rates > lr_max_003]", ()),
    ("ex7-stable-lr", "x3 = table.x.astype(np.float64)\n"
     "H_003 = 2 / x3.size * np.array([[x3 @ x3, x3.sum()], [x3.sum(), x3.size]])\n"
     "lr_max_003 = 2 / np.linalg.eigvals(H_003).real.max()\n"
     "diverging_003 = {lr for lr in lr_candidates if lr >= lr_max_003}", ()),
    ("ex7-stable-lr", _H_MEAN + "lam_min, lam_max = np.linalg.eigvalsh(H_003)\nlr_max_003 = 2 / lam_max\n"
     "diverging_003 = [0.005, 0.006, 0.01]", ()),
    # Exercise 8 (issue 25): any consistent standardisation maps back to the same converged line.
    ("ex8-scale-back", _SCALED + "w_003 = w_scaled / sigma\nb_003 = b_scaled - w_scaled * mu / sigma", ()),
    ("ex8-scale-back", "mu, s = np.mean(table.x), np.std(table.x, ddof=1)\n"
     "w_scaled, b_scaled, _ = fit((table.x - mu) / s, table.y, lr=0.1, epochs=100)\n"
     "w_003, b_003 = w_scaled / s, b_scaled - w_scaled * mu / s", ()),
    ("ex8-scale-back", "mx, sx = table.x.mean(), table.x.std()\nmy, sy = table.y.mean(), table.y.std()\n"
     "w_scaled, b_scaled, _ = fit((table.x - mx) / sx, (table.y - my) / sy, lr=0.1, epochs=100)\n"
     "w_003 = w_scaled * sy / sx\nb_003 = my + sy * b_scaled - w_003 * mx", ()),
    ("ex8-scale-back", _SCALED + "w_003 = w_scaled / sigma\nb_003 = table.y.mean() - w_003 * mu", ()),
    ("ex8-scale-back", _SCALED + "def line_at(x_new):\n    return w_scaled * (x_new - mu) / sigma + b_scaled\n"
     "b_003 = line_at(0.0)\nw_003 = line_at(1.0) - line_at(0.0)", ()),
    ("ex8-scale-back", "x3 = table.x.astype(np.float64)\nmu, sigma = x3.mean(), x3.std()\n"
     "w_scaled, b_scaled, losses_scaled = fit((x3 - mu) / sigma, table.y, 0.1, 100)\n"
     "w_003 = float(w_scaled / sigma)\nb_003 = float(b_scaled - w_003 * mu)", ()),
]
MISTAKES = [
    ("ex2-mse", "return np.sum((y_pred - y) ** 2)", ("sum_reduction",)),
    ("ex2-mse", "return np.sqrt(np.mean((y_pred - y) ** 2))", ("rmse",)),
    ("ex3-first-loss", "first_loss = 94", ("sum_reduction",)),
    ("ex3-first-loss", "first_loss = 94 / 5", ("n_minus_1",)),
    ("ex3-first-loss", "first_loss = 15.7", ()),
    ("ex4-gradients", "r = w * x + b - y\nreturn np.mean(r * x), np.mean(r)", ("grad_half",)),
    ("ex5-step", "dw, db = gradients(x, y, w, b)\nreturn w + lr * dw, b + lr * db", ("sign_flip",)),
    # A second class's slips (issue 27): each must be named, with a NumPy fix.
    ("ex2-mse", "return np.mean(y_pred - y) ** 2", ("square_of_mean",)),
    ("ex5-step", "dw, db = gradients(x, y, w, b)\nreturn w - lr * dw, b - lr * dw", ("crossed_grad",)),
    ("ex5-step", "dw, _ = gradients(x, y, w, b)\nw = w - lr * dw\n_, db = gradients(x, y, w, b)\nreturn w, b - lr * db", ("b_from_new_w",)),
    ("ex6-fit", "w, b = w0, b0\nlosses = []\nfor epoch in range(1, epochs):\n    losses.append(mse(predict(x, w, b), y))\n    w, b = step(x, y, w, b, lr)\nreturn w, b, losses", ("epochs_off",)),
    # Exercise 7 (issue 25): the largest stable lr for article 003's x, and which candidates diverge.
    ("ex7-stable-lr", _H_MEAN + "lr_max_003 = 1 / np.linalg.eigvalsh(H_003).max()\n" + _DIVERGING,
     ("zigzag_threshold",)),
    ("ex7-stable-lr", _H_MEAN + "lam_min, lam_max = np.linalg.eigvalsh(H_003)\nlr_max_003 = 2 / lam_min\n" + _DIVERGING,
     ("bound_lambda_min",)),
    ("ex7-stable-lr", _H_MEAN + "lam_min, lam_max = np.linalg.eigvalsh(H_003)\nlr_max_003 = 2 / (lam_min + lam_max)\n"
     + _DIVERGING, ("best_lr_not_bound",)),
    ("ex7-stable-lr", "x3 = table.x\nH_003 = 2 * np.array([[np.sum(x3 ** 2), np.sum(x3)], [np.sum(x3), len(x3)]])\n"
     "lr_max_003 = 2 / np.linalg.eigvalsh(H_003).max()\n" + _DIVERGING, ("hessian_summed",)),
    ("ex7-stable-lr", "x3 = table.x\nH_003 = np.array([[np.mean(x3 ** 2), np.mean(x3)], [np.mean(x3), 1.0]])\n"
     "lr_max_003 = 2 / np.linalg.eigvalsh(H_003).max()\n" + _DIVERGING, ("hessian_no_2",)),
    ("ex7-stable-lr", "H_003 = 2 / len(x) * np.array([[np.sum(x ** 2), np.sum(x)], [np.sum(x), len(x)]])\n"
     "lr_max_003 = 2 / np.linalg.eigvalsh(H_003).max()\n" + _DIVERGING, ("hessian_other_x",)),
    ("ex7-stable-lr", _H_MEAN + "lr_max_003 = 2 / H_003.max()\n" + _DIVERGING, ("largest_entry",)),
    ("ex7-stable-lr", _H_MEAN + "lr_max_003 = 2 / np.linalg.eigvalsh(H_003).max()\n"
     "diverging_003 = [lr for lr in lr_candidates if lr < lr_max_003]", ("stable_listed",)),
    ("ex7-stable-lr", _H_MEAN + "lr_max_003 = 2 / np.linalg.eigvalsh(H_003).max()\n"
     "diverging_003 = [lr for lr in lr_candidates if lr > 1 / np.linalg.eigvalsh(H_003).max()]", ("zigzag_threshold",)),
    # Exercise 8 (issue 25): standardise article 003's x, fit, map (w', b') back.
    ("ex8-scale-back", _SCALED + "w_003, b_003 = w_scaled, b_scaled", ("scale_not_undone",)),
    ("ex8-scale-back", _SCALED + "w_003 = w_scaled * sigma\nb_003 = b_scaled - w_scaled * mu / sigma", ("scale_times_sigma",)),
    ("ex8-scale-back", _SCALED + "w_003 = w_scaled * sigma\nb_003 = b_scaled - w_003 * mu", ("scale_times_sigma",)),
    ("ex8-scale-back", _SCALED + "w_003 = w_scaled / sigma\nb_003 = b_scaled + w_scaled * mu / sigma", ("scale_b_sign",)),
    ("ex8-scale-back", _SCALED + "w_003 = w_scaled / sigma\nb_003 = b_scaled", ("scale_b_unmapped",)),
    ("ex8-scale-back", _SCALED + "w_003 = w_scaled / table.y.std()\nb_003 = b_scaled - w_scaled * table.y.mean() / table.y.std()",
     ("scale_stats_of_y",)),
    ("ex8-scale-back", "sigma = table.x.std()\nx_scaled = table.x / sigma\n"
     "w_scaled, b_scaled, losses_scaled = fit(x_scaled, table.y, lr=0.1, epochs=100)\n"
     "w_003, b_003 = w_scaled / sigma, b_scaled", ("scale_not_centred",)),
    ("ex8-scale-back", _SCALED + "b_003, w_003 = w_scaled / sigma, b_scaled - w_scaled * mu / sigma", ("swapped",)),
]
#: Messages the verdict of a mistake must contain (answer cell, code) -> text.
SAYS = {("ex3-first-loss", "first_loss = 15.7"): "give at least 4 significant digits"}
