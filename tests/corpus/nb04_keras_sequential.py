"""Notebook 4, Keras Sequential (exercise 4 is left alone: issue 17 rewrites it)."""
_FIT = ("model = make_model(w0, b0, lr)\nhistory = model.fit(np.reshape(x, (-1, 1)), np.reshape(y, (-1, 1)), epochs=epochs{ARGS}, verbose=0)\n"
        "kernel, bias = model.get_weights()\nreturn {RET}, {LOSSES}")
CORRECT = [
    ("ex1-make-model", "model = keras.Sequential([keras.Input(shape=(1,)), keras.layers.Dense(1, kernel_initializer=keras.initializers.Constant(w0), bias_initializer=keras.initializers.Constant(b0))])\nmodel.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss='mse')\nreturn model", ()),
    ("ex1-make-model", "model = keras.Sequential()\nmodel.add(keras.Input(shape=(1,)))\nmodel.add(keras.layers.Dense(units=1))\nmodel.layers[0].set_weights([np.array([[w0]]), np.array([b0])])\nmodel.compile(keras.optimizers.SGD(lr), keras.losses.MeanSquaredError())\nreturn model", ()),
    ("ex2-fit-keras", _FIT.format(ARGS=", batch_size=len(x), shuffle=False", RET="kernel[0, 0], bias[0]", LOSSES="history.history['loss']"), ()),
    ("ex2-fit-keras", _FIT.format(ARGS=", batch_size=len(x)", RET="kernel, bias", LOSSES="np.array(history.history['loss'])"), ()),
    ("ex2-fit-keras", _FIT.format(ARGS=", batch_size=np.size(x), shuffle=True", RET="float(kernel.item()), float(bias.item())", LOSSES="list(history.history['loss'])"), ()),
    # Exercise 3 (issue 25): what fit does with batch_size.
    ("ex3-updates-per-epoch", "import math\nreturn math.ceil(n / (batch_size or 32))", ()),
    ("ex3-updates-per-epoch", "if batch_size is None:\n    batch_size = 32\nreturn -(-n // batch_size)", ()),
    ("ex3-updates-per-epoch", "size = 32 if batch_size is None else min(batch_size, n)\nreturn (n + size - 1) // size", ()),
    ("ex3-updates-per-epoch", "return int(np.ceil(n / (32 if batch_size is None else batch_size)))", ()),
    ("ex3-updates-per-epoch", "size = batch_size or 32\nreturn len(range(0, n, size))", ()),
    ("ex3-full-batch-size", "full_batch_size = line_100.n", ()),
    ("ex3-full-batch-size", "full_batch_size = len(line_100.x)", ()),
    ("ex3-full-batch-size", "full_batch_size = 100", ()),
    ("ex3-full-batch-size", "full_batch_size = 10_000", ()),
    ("ex3-full-batch-size", "full_batch_size = line_100.x.shape[0]", ()),
]
MISTAKES = [
    ("ex2-fit-keras", _FIT.format(ARGS=", shuffle=False", RET="kernel[0, 0], bias[0]", LOSSES="history.history['loss']"), ("minibatches",)),
    ("ex2-fit-keras", _FIT.format(ARGS="", RET="kernel[0, 0], bias[0]", LOSSES="history.history['loss']"), ("shuffled_minibatches",)),
    ("ex2-fit-keras", _FIT.format(ARGS=", batch_size=len(x), shuffle=False", RET="bias[0], kernel[0, 0]", LOSSES="history.history['loss']"), ("swapped",)),
    ("ex1-make-model", "model = keras.Sequential([keras.Input(shape=(1,)), keras.layers.Dense(1)])\nmodel.compile(optimizer='sgd', loss='mse')\nmodel.set_weights([np.full((1, 1), w0), np.full((1,), b0)])\nreturn model", ("wrong_lr",)),
    ("ex1-make-model", "model = keras.Sequential([keras.Input(shape=(1,)), keras.layers.Dense(1)])\nmodel.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss='mse')\nmodel.set_weights([np.full((1, 1), b0), np.full((1,), w0)])\nreturn model", ()),
]
# A second class's slips (issue 27): each must be named, with a Keras fix (never PyTorch's).
_RELU = ("model = keras.Sequential([keras.Input(shape=(1,)), keras.layers.Dense(1, activation='relu')])\n"
         "model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss='mse')\n"
         "model.set_weights([np.full((1, 1), w0), np.full((1,), b0)])\nreturn model")
_TWICE = ("model = make_model(w0, b0, lr)\nx_col, y_col = np.reshape(x, (-1, 1)), np.reshape(y, (-1, 1))\n"
          "model.fit(x_col, y_col, epochs=epochs, batch_size=len(x), shuffle=False, verbose=0)\n"
          "history = model.fit(x_col, y_col, epochs=epochs, batch_size=len(x), shuffle=False, verbose=0)\n"
          "kernel, bias = model.get_weights()\nreturn kernel[0, 0], bias[0], history.history['loss']")
MISTAKES += [
    ("ex1-make-model", _RELU, ("relu_activation",)),
    ("ex2-fit-keras", _TWICE, ("fit_twice",)),
    ("ex2-fit-keras", _FIT.format(ARGS=", batch_size=1, shuffle=False", RET="kernel[0, 0], bias[0]", LOSSES="history.history['loss']"), ("minibatches",)),
    ("ex2-fit-keras", _FIT.format(ARGS=", batch_size=2", RET="kernel[0, 0], bias[0]", LOSSES="history.history['loss']"), ("shuffled_minibatches",)),
    ("ex2-fit-keras", _FIT.format(ARGS=", batch_size=len(x), shuffle=False", RET="kernel[0, 0], bias[0]", LOSSES="history"), ("history_object",)),
]
# Exercise 3 (issue 25): counting fit's batches, and a batch_size for full batch.
MISTAKES += [
    ("ex3-updates-per-epoch", "return n // (batch_size or 32)", ("floor_batches",)),
    ("ex3-updates-per-epoch", "return n / (batch_size or 32)", ("not_whole",)),
    ("ex3-updates-per-epoch", "return n // (batch_size or 32) + 1", ("extra_batch",)),
    ("ex3-updates-per-epoch", "import math\nif batch_size is None:\n    return 1\nreturn math.ceil(n / batch_size)", ("none_as_full_batch",)),
    ("ex3-updates-per-epoch", "return n", ("one_per_sample",)),
    ("ex3-full-batch-size", "full_batch_size = None", ("batch_size_default",)),
    ("ex3-full-batch-size", "full_batch_size = 32", ("batch_size_default",)),
    ("ex3-full-batch-size", "full_batch_size = 1", ("batch_size_one",)),
    ("ex3-full-batch-size", "full_batch_size = len(x)", ("batch_too_small",)),
    ("ex3-full-batch-size", "full_batch_size = 1.0", ("batch_fraction",)),
]
SAYS = {}
