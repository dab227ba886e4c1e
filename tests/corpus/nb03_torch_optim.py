"""Notebook 3, torch.optim and nn.Linear."""
_FIT = ("x = torch.as_tensor(x, dtype=torch.float32).reshape(-1, 1)\ny = torch.as_tensor(y, dtype=torch.float32){Y}\n"
        "model = nn.Linear(1, 1)\nwith torch.no_grad():\n    model.weight.fill_(float(w0))\n    model.bias.fill_(float(b0))\n"
        "optimizer = torch.optim.SGD(model.parameters(), lr=lr)\nlosses = []\nfor _ in range(epochs):\n"
        "    {ZERO}loss = {LOSS}\n    losses.append(loss.item())\n    loss.backward()\n    optimizer.step()\n"
        "return model.weight.item(), model.bias.item(), losses")
_MODULE = ("class Line(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
           "        self.w = nn.Parameter(torch.tensor(float(w0)))\n        self.b = nn.Parameter(torch.tensor(float(b0)))\n"
           "    def forward(self, x):\n        return self.w * x + self.b\n"
           "x, y = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)\nmodel = Line()\n"
           "optimizer = torch.optim.SGD(model.parameters(), lr=lr)\nlosses = []\nfor _ in range(epochs):\n"
           "    optimizer.zero_grad(set_to_none=True)\n    loss = torch.nn.functional.mse_loss(model(x), y)\n"
           "    losses.append(loss)\n    loss.backward()\n    optimizer.step()\nreturn model.w, model.b, losses")
CORRECT = [
    ("ex1-broadcast-intercept", "b_broadcast = 2", ()),
    ("ex1-broadcast-intercept", "b_broadcast = np.mean([-3, -1, 1, 3, 5, 7])", ()),
    ("ex2-fit-optim", _MODULE, ()),
    ("ex2-fit-optim", _FIT.format(Y=".reshape(-1, 1)", ZERO="optimizer.zero_grad()\n    ",
                                  LOSS="torch.nn.functional.mse_loss(model(x), y)"), ()),
    ("ex2-fit-optim", _FIT.format(Y=".reshape(-1, 1)", ZERO="model.zero_grad()\n    ",
                                  LOSS="((model(x) - y) ** 2).mean()"), ()),
    ("ex4-lr-mean", "lr_mean = 0.06", ()),
    ("ex4-lr-mean", "lr_mean = 0.01 * len(line.x)", ()),
]
MISTAKES = [
    ("ex1-broadcast-intercept", "b_broadcast = -1", ("least_squares_b",)),
    ("ex1-broadcast-intercept", "b_broadcast = 0", ("b_stays_zero",)),
    ("ex4-lr-mean", "lr_mean = 0.01 / 6", ("lr_divided",)),
    ("ex2-fit-optim", _FIT.format(Y=".reshape(-1, 1)", ZERO="optimizer.zero_grad()\n    ",
                                  LOSS="nn.MSELoss(reduction='sum')(model(x), y) / 1"), ("sum_reduction",)),
    ("ex2-fit-optim", _FIT.format(Y=".reshape(-1, 1)", ZERO="", LOSS="nn.MSELoss()(model(x), y)"), ("no_zero_grad",)),
    ("ex2-fit-optim", _FIT.format(Y="", ZERO="optimizer.zero_grad()\n    ", LOSS="nn.MSELoss()(model(x), y)"),
     ("broadcast_nxn",)),
]
# A second class's slips (issue 27): each must be named, with a torch.optim fix.
_ZERO_LATE = _FIT.replace("    loss.backward()\n    optimizer.step()", "    loss.backward()\n    optimizer.zero_grad()\n    optimizer.step()")
_SHORT = _FIT.replace("for _ in range(epochs)", "for _ in range(1, epochs)")
MISTAKES += [
    ("ex2-fit-optim", _ZERO_LATE.format(Y=".reshape(-1, 1)", ZERO="", LOSS="nn.MSELoss()(model(x), y)"), ("zero_before_update",)),
    ("ex2-fit-optim", _FIT.format(Y=".reshape(-1, 1)", ZERO="optimizer.zero_grad()\n    ", LOSS="(model(x) - y).mean() ** 2"), ("square_of_mean",)),
    ("ex2-fit-optim", _SHORT.format(Y=".reshape(-1, 1)", ZERO="optimizer.zero_grad()\n    ", LOSS="nn.MSELoss()(model(x), y)"), ("epochs_off",)),
    ("ex3-article-002", "w, b, losses = fit_optim(noisy.x, noisy.y, lr=0.01, epochs=999, w0=noisy.extra['article_w0'], b0=noisy.extra['article_b0'])", ("epochs_off",)),
]
SAYS = {}
