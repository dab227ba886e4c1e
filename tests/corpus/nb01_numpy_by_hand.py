"""Notebook 1, NumPy by hand."""
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
    ("ex7-final-values", "w, b, losses = fit(x, y, lr=0.05, epochs=199)", ("epochs_off",)),
]
#: Messages the verdict of a mistake must contain (answer cell, code) -> text.
SAYS = {("ex3-first-loss", "first_loss = 15.7"): "give at least 4 significant digits"}
