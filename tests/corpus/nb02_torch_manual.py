"""Notebook 2, PyTorch with a manual update."""
CORRECT = [
    ("ex1-grad-twice", "w_grad_after_two = -35.33", ()),
    ("ex1-grad-twice", "w_grad_after_two = 2 * w.grad.item()", ()),
    ("ex2-gradients", "w = w.detach().clone().requires_grad_(True) if torch.is_tensor(w) else torch.tensor(float(w), requires_grad=True)\nb = b.detach().clone().requires_grad_(True) if torch.is_tensor(b) else torch.tensor(float(b), requires_grad=True)\nx, y = torch.as_tensor(x), torch.as_tensor(y)\nloss = torch.nn.functional.mse_loss(w * x + b, y)\ndw, db = torch.autograd.grad(loss, [w, b])\nreturn dw, db", ()),
    ("ex2-gradients", "x = torch.as_tensor(x, dtype=torch.float64)\ny = torch.as_tensor(y, dtype=torch.float64)\nw = torch.tensor(float(w), dtype=torch.float64, requires_grad=True)\nb = torch.tensor(float(b), dtype=torch.float64, requires_grad=True)\n((w * x + b - y) ** 2).mean().backward()\nreturn torch.stack([w.grad, b.grad])", ()),
    ("ex3-fit-torch", "x = torch.as_tensor(x, dtype=torch.float32)\ny = torch.as_tensor(y, dtype=torch.float32)\nw = torch.tensor(float(w0), requires_grad=True)\nb = torch.tensor(float(b0), requires_grad=True)\nlosses = []\nfor _ in range(epochs):\n    loss = torch.mean((w * x + b - y) ** 2)\n    losses.append(loss.detach())\n    loss.backward()\n    with torch.no_grad():\n        w.sub_(lr * w.grad)\n        b.sub_(lr * b.grad)\n    w.grad = None\n    b.grad = None\nreturn w, b, torch.stack(losses)", ()),
]
MISTAKES = [
    ("ex1-grad-twice", "w_grad_after_two = -17.667", ("one_backward",)),
    ("ex1-grad-twice", "w_grad_after_two = 35.333", ("sign_flip",)),
    ("ex1-grad-twice", "w_grad_after_two = -35", ()),
    ("ex3-fit-torch", "x = torch.as_tensor(x, dtype=torch.float32)\ny = torch.as_tensor(y, dtype=torch.float32)\nw = torch.tensor(float(w0), requires_grad=True)\nb = torch.tensor(float(b0), requires_grad=True)\nlosses = []\nfor _ in range(epochs):\n    loss = ((w * x + b - y) ** 2).mean()\n    losses.append(loss.item())\n    loss.backward()\n    with torch.no_grad():\n        w -= lr * w.grad\n        b -= lr * b.grad\nreturn w.item(), b.item(), losses", ("no_zero_grad",)),
    ("ex3-fit-torch", "x = torch.as_tensor(x, dtype=torch.float32)\ny = torch.as_tensor(y, dtype=torch.float32)\nw = torch.tensor(float(w0), requires_grad=True)\nb = torch.tensor(float(b0), requires_grad=True)\nlosses = []\nfor _ in range(epochs):\n    loss = ((w * x + b - y) ** 2).sum()\n    losses.append(loss.item() / len(x))\n    loss.backward()\n    with torch.no_grad():\n        w -= lr * w.grad\n        b -= lr * b.grad\n    w.grad.zero_()\n    b.grad.zero_()\nreturn w.item(), b.item(), losses", ("diverged",)),
]
# A second class's slips (issue 27): each must be named, with a PyTorch fix.
_LOOP = ("x = torch.as_tensor(x, dtype=torch.float32)\ny = torch.as_tensor(y, dtype=torch.float32)\n"
         "w = torch.tensor(float(w0), requires_grad=True)\nb = torch.tensor(float(b0), requires_grad=True)\n"
         "losses = []\nfor _ in range({RANGE}):\n    loss = {LOSS}\n    losses.append(loss.item())\n    loss.backward()\n"
         "{BEFORE}    with torch.no_grad():\n        w -= lr * w.grad\n        b -= lr * {BGRAD}.grad\n{AFTER}"
         "return w.item(), b.item(), losses")
_ZERO = "    w.grad.zero_()\n    b.grad.zero_()\n"
_MSE = "((w * x + b - y) ** 2).mean()"
MISTAKES += [
    ("ex3-fit-torch", _LOOP.format(RANGE="epochs", LOSS=_MSE, BEFORE=_ZERO, BGRAD="b", AFTER=""), ("zero_before_update",)),
    ("ex3-fit-torch", _LOOP.format(RANGE="epochs", LOSS=_MSE, BEFORE="", BGRAD="b", AFTER="    w.grad.zero_()\n"), ("zero_one_grad",)),
    ("ex3-fit-torch", _LOOP.format(RANGE="epochs", LOSS=_MSE, BEFORE="", BGRAD="w", AFTER=_ZERO), ("crossed_grad",)),
    ("ex3-fit-torch", _LOOP.format(RANGE="epochs", LOSS="(w * x + b - y).mean() ** 2", BEFORE="", BGRAD="b", AFTER=_ZERO), ("square_of_mean",)),
    ("ex3-fit-torch", _LOOP.format(RANGE="1, epochs", LOSS=_MSE, BEFORE="", BGRAD="b", AFTER=_ZERO), ("epochs_off",)),
    ("ex2-gradients", "w = torch.tensor(float(w), requires_grad=True)\nb = torch.tensor(float(b), requires_grad=True)\nloss = (w * torch.as_tensor(x) + b - torch.as_tensor(y)).mean() ** 2\nloss.backward()\nreturn w.grad.item(), b.grad.item()", ("square_of_mean",)),
]
# Exercise 4 (issue 25): w after 4 updates of the loop that never zeroes .grad (lr 0.05, from w = b = 0).
_FORGOT = ("w_ = torch.tensor(0.0, device=device, requires_grad=True)\n"
           "b_ = torch.tensor(0.0, device=device, requires_grad=True)\n"
           "for _ in range({RANGE}):\n    loss = ((w_ * x + b_ - y) ** 2).{REDUCE}()\n    loss.backward()\n"
           "    with torch.no_grad():\n        w_ {OP}= 0.05 * w_.grad\n        b_ {OP}= 0.05 * b_.grad\n{ZERO}"
           "w_forgot = w_.item()")
_ZERO_BOTH = "    w_.grad.zero_()\n    b_.grad.zero_()\n"
CORRECT += [
    ("ex4-forgotten-zeroing", _FORGOT.format(RANGE="4", REDUCE="mean", OP="-", ZERO=""), ()),
    ("ex4-forgotten-zeroing", "xs, ys = np.asarray(line.x, np.float64), np.asarray(line.y, np.float64)\n"
     "w_, b_, sum_w, sum_b = 0.0, 0.0, 0.0, 0.0\nfor _ in range(4):\n    r = w_ * xs + b_ - ys\n"
     "    sum_w += 2 * np.mean(r * xs)\n    sum_b += 2 * np.mean(r)\n    w_, b_ = w_ - 0.05 * sum_w, b_ - 0.05 * sum_b\n"
     "w_forgot = w_", ()),
    ("ex4-forgotten-zeroing", "w_ = torch.tensor(0.0, device=device, requires_grad=True)\n"
     "b_ = torch.tensor(0.0, device=device, requires_grad=True)\ntotal_w = total_b = 0.0\nfor _ in range(4):\n"
     "    gw, gb = torch.autograd.grad(((w_ * x + b_ - y) ** 2).mean(), [w_, b_])\n"
     "    total_w, total_b = total_w + gw, total_b + gb\n    with torch.no_grad():\n"
     "        w_ -= 0.05 * total_w\n        b_ -= 0.05 * total_b\nw_forgot = w_", ()),
    ("ex4-forgotten-zeroing", "theta = torch.zeros(2, device=device, requires_grad=True)\nfor _ in range(4):\n"
     "    ((theta[0] * x + theta[1] - y) ** 2).mean().backward()\n    with torch.no_grad():\n"
     "        theta -= 0.05 * theta.grad\nw_forgot = theta[0].item()", ()),
    ("ex4-forgotten-zeroing", "w_forgot = 3.3018", ()),
]
MISTAKES += [
    ("ex4-forgotten-zeroing", _FORGOT.format(RANGE="4", REDUCE="mean", OP="-", ZERO=_ZERO_BOTH), ("zeroed_run",)),
    ("ex4-forgotten-zeroing", _FORGOT.format(RANGE="3", REDUCE="mean", OP="-", ZERO=""), ("updates_off",)),
    ("ex4-forgotten-zeroing", _FORGOT.format(RANGE="1, 4", REDUCE="mean", OP="-", ZERO=""), ("updates_off",)),
    ("ex4-forgotten-zeroing", _FORGOT.format(RANGE="5", REDUCE="mean", OP="-", ZERO=""), ("updates_off",)),
    ("ex4-forgotten-zeroing", _FORGOT.format(RANGE="4", REDUCE="mean", OP="+", ZERO=""), ("sign_flip",)),
    ("ex4-forgotten-zeroing", _FORGOT.format(RANGE="4", REDUCE="sum", OP="-", ZERO=""), ("sum_reduction",)),
    ("ex4-forgotten-zeroing", "dw0, db0 = 2 * np.mean(-line.y * line.x), 2 * np.mean(-line.y)\nw_, b_ = 0.0, 0.0\n"
     "for k in range(1, 5):\n    w_, b_ = w_ - 0.05 * k * dw0, b_ - 0.05 * k * db0\nw_forgot = w_",
     ("first_gradient_repeated",)),
    ("ex4-forgotten-zeroing", "w_forgot = 3.3", ()),
]
SAYS = {("ex1-grad-twice", "w_grad_after_two = -35"): "give at least 4 significant digits",
        ("ex4-forgotten-zeroing", "w_forgot = 3.3"): "give at least 4 significant digits"}
