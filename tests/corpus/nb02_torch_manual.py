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
SAYS = {("ex1-grad-twice", "w_grad_after_two = -35"): "give at least 4 significant digits"}
