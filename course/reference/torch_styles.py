"""Styles 2 and 3: PyTorch autograd with a manual update, then torch.optim + nn.MSELoss + nn.Linear."""

from __future__ import annotations


from .result import FitResult, prepare


def default_device() -> str:
    """``"cuda"`` when a GPU is usable, else ``"cpu"`` (results agree to float32 precision)."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def fit_torch_manual(x, y, *, lr, epochs, w0=0.0, b0=0.0, reduction="mean", device=None) -> FitResult:
    """Tensors with ``requires_grad``; ``backward()``; update inside ``torch.no_grad()``; zero the grads."""
    import torch

    x, y = prepare(x, y, lr, epochs, reduction)
    device = device or default_device()
    xt = torch.as_tensor(x, dtype=torch.float32, device=device)
    yt = torch.as_tensor(y, dtype=torch.float32, device=device)
    w = torch.tensor(float(w0), dtype=torch.float32, device=device, requires_grad=True)
    b = torch.tensor(float(b0), dtype=torch.float32, device=device, requires_grad=True)
    losses = torch.empty(epochs, dtype=torch.float32, device=device)
    for epoch in range(epochs):
        squared = (w * xt + b - yt) ** 2
        loss = squared.mean() if reduction == "mean" else squared.sum()
        loss.backward()
        with torch.no_grad():  # the update itself must not become part of the graph
            losses[epoch] = loss
            w -= lr * w.grad
            b -= lr * b.grad
        w.grad.zero_()  # backward() adds to .grad: without this the steps accumulate
        b.grad.zero_()
    return FitResult(
        "torch_manual", float(w.item()), float(b.item()),
        losses.cpu().double().numpy(), float(lr), int(epochs), reduction,
    )


def fit_torch_optim(x, y, *, lr, epochs, w0=0.0, b0=0.0, reduction="mean", device=None) -> FitResult:
    """``nn.Linear(1, 1)`` trained by ``torch.optim.SGD`` on ``nn.MSELoss(reduction=...)``."""
    import torch
    from torch import nn

    x, y = prepare(x, y, lr, epochs, reduction)
    device = device or default_device()
    # nn.Linear wants a column of inputs, and the target must have the same
    # shape as the prediction: [N, 1] against [N] would broadcast to N×N.
    xt = torch.as_tensor(x, dtype=torch.float32, device=device).reshape(-1, 1)
    yt = torch.as_tensor(y, dtype=torch.float32, device=device).reshape(-1, 1)
    model = nn.Linear(1, 1).to(device)
    with torch.no_grad():
        model.weight.fill_(float(w0))
        model.bias.fill_(float(b0))
    loss_fn = nn.MSELoss(reduction=reduction)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = torch.empty(epochs, dtype=torch.float32, device=device)
    for epoch in range(epochs):
        optimizer.zero_grad()
        loss = loss_fn(model(xt), yt)
        loss.backward()
        optimizer.step()
        losses[epoch] = loss.detach()
    return FitResult(
        "torch_optim", float(model.weight.item()), float(model.bias.item()),
        losses.cpu().double().numpy(), float(lr), int(epochs), reduction,
    )
