"""Notebook 2, PyTorch with a manual update."""
CORRECT = [
    ("ex1-grad-twice", "w_grad_after_two = -35.33", ()),
    ("ex1-grad-twice", "w_grad_after_two = 2 * w.grad.item()", ()),
    ("ex2-gradients", "w = w.detach().clone().requires_grad_(True) if torch.is_tensor(w) else torch.tensor(float(w), requires_grad=True)\nb = b.detach().clone().requires_grad_(True) if torch.is_tensor(b) else torch.tensor(float(b), requires_grad=True)\nx, y = torch.as_tensor(x), torch.as_tensor(y)\nloss = torch.nn.functional.mse_loss(w * x + b, y)\ndw, db = torch.autograd.grad(loss, [w, b])\nreturn dw, db", ()),
    ("ex2-gradients", "x = torch.as_tensor(x, dtype=torch.float64)\ny = torch.as_tensor(y, dtype=torch.float64)\nw = torch.tensor(float(w), dtype=torch.float64, requires_grad=True)\nb = torch.tensor(float(b), dtype=torch.float64, requires_grad=True)\n((w * x + b - y) ** 2).mean().backward()\nreturn torch.stack([w.grad, b.grad])", ()),
    ("ex3-fit-torch", "x = torch.as_tensor(x, dtype=torch.float32)\ny = torch.as_tensor(y, dtype=torch.float32)\nw = torch.tensor(float(w0), requires_grad=True)\nb = torch.tensor(float(b0), requires_grad=True)\nlosses = []\nfor _ in range(epochs):\n    loss = torch.mean((w * x + b - y) ** 2)\n    losses.append(loss.detach())\n    loss.backward()\n    with torch.no_grad():\n        w.sub_(lr * w.grad)\n        b.sub_(lr * b.grad)\n    w.grad = None\n    b.grad = None\nreturn w, b, torch.stack(losses)", ()),
    ("ex4-final-values", "w, b, losses = fit_torch(torch.tensor(line.x), torch.tensor(line.y), 0.05, 200)", ()),
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
SAYS = {("ex1-grad-twice", "w_grad_after_two = -35"): "give at least 4 significant digits"}
