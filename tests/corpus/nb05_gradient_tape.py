"""Notebook 5, tf.GradientTape."""
_TAPE = ("x = tf.cast(x, tf.float32)\ny = tf.cast(y, tf.float32)\nw = tf.Variable(float(w0))\nb = tf.Variable(float(b0))\n"
         "{STEP}losses = []\nfor _ in range(epochs):\n    losses.append({CALL})\nreturn w, b, losses")
_STEP = ("{DECO}def one_step():\n    with tf.GradientTape() as tape:\n        loss = {LOSS}\n"
         "    dw, db = tape.gradient(loss, [w, b])\n    w.{OP}(lr * dw)\n    b.{OP}(lr * db)\n    return loss\n")
CORRECT = [
    ("ex2-gradients", "@tf.function\ndef loss_and_grads(w, b):\n    with tf.GradientTape() as tape:\n        loss = tf.reduce_mean(tf.square(w * x + b - y))\n    return tape.gradient(loss, [w, b])\nreturn tuple(loss_and_grads(w, b))", ()),
    ("ex2-gradients", "with tf.GradientTape() as tape:\n    loss = keras.losses.MeanSquaredError()(y, w * x + b)\nreturn tf.stack(tape.gradient(loss, [w, b]))", ()),
    ("ex3-fit-tape", _TAPE.format(STEP=_STEP.format(DECO="@tf.function\n", LOSS="tf.reduce_mean((w * x + b - y) ** 2)", OP="assign_sub"),
                                  CALL="float(one_step())"), ()),
    ("ex3-fit-tape", _TAPE.format(STEP=_STEP.format(DECO="", LOSS="tf.reduce_mean(tf.math.squared_difference(w * x + b, y))", OP="assign_sub"),
                                  CALL="one_step().numpy()"), ()),
]
MISTAKES = [
    ("ex2-gradients", "with tf.GradientTape() as tape:\n    loss = tf.reduce_sum((w * x + b - y) ** 2)\nreturn tape.gradient(loss, [w, b])", ("sum_reduction",)),
    ("ex2-gradients", "with tf.GradientTape() as tape:\n    loss = tf.reduce_mean((w * x + b - y) ** 2) / 2\nreturn tape.gradient(loss, [w, b])", ("grad_half",)),
    ("ex3-fit-tape", _TAPE.format(STEP=_STEP.format(DECO="", LOSS="tf.reduce_mean((w * x + b - y) ** 2)", OP="assign_add"),
                                  CALL="float(one_step())"), ("sign_flip",)),
    ("ex3-fit-tape", _TAPE.format(STEP=_STEP.format(DECO="", LOSS="tf.reduce_sum((w * x + b - y) ** 2)", OP="assign_sub"),
                                  CALL="float(one_step()) / 6"), ()),
]
# A second class's slips (issue 27): each must be named, with a TensorFlow fix.
_CROSSED = _STEP.format(DECO="", LOSS="tf.reduce_mean((w * x + b - y) ** 2)", OP="assign_sub").replace("b.assign_sub(lr * db)", "b.assign_sub(lr * dw)")
MISTAKES += [
    ("ex2-gradients", "with tf.GradientTape() as tape:\n    loss = tf.reduce_mean(w * x + b - y) ** 2\nreturn tape.gradient(loss, [w, b])", ("square_of_mean",)),
    ("ex3-fit-tape", _TAPE.format(STEP=_CROSSED, CALL="float(one_step())"), ("crossed_grad",)),
    ("ex3-fit-tape", _TAPE.format(STEP=_STEP.format(DECO="", LOSS="tf.reduce_mean((w * x + b - y) ** 2)", OP="assign_sub"),
                                  CALL="float(one_step())").replace("range(epochs)", "range(1, epochs)"), ("epochs_off",)),
]

# Issue 25: Exercise 1, the tape's gradient of mean(v³) at a constant v.
_CUBE = "with tf.GradientTape() as tape:\n{WATCH}    z = {LOSS}\nreturn tape.gradient(z, v)"
_WATCH = "    tape.watch(v)\n"
CORRECT += [
    ("ex1-cube-gradient", _CUBE.format(WATCH=_WATCH, LOSS="tf.reduce_mean(v ** 3)"), ()),
    ("ex1-cube-gradient", "v = tf.Variable(v)\n" + _CUBE.format(WATCH="", LOSS="tf.reduce_mean(tf.pow(v, 3))"), ()),
    ("ex1-cube-gradient", "with tf.GradientTape(persistent=True) as tape:\n    tape.watch(v)\n"
                          "    z = tf.math.reduce_mean(v * v * v)\nreturn tape.gradient(z, v).numpy()", ()),
    ("ex1-cube-gradient", _CUBE.format(WATCH=_WATCH, LOSS="tf.reduce_sum(v ** 3) / len(v)"), ()),
    ("ex1-cube-gradient", "n = tf.cast(tf.size(v), tf.float32)\nreturn 3 * v ** 2 / n", ()),
]
MISTAKES += [
    ("ex1-cube-gradient", _CUBE.format(WATCH="", LOSS="tf.reduce_mean(v ** 3)"), ("not_watched",)),
    ("ex1-cube-gradient", "z = tf.reduce_mean(v ** 3)\nwith tf.GradientTape() as tape:\n    tape.watch(v)\n"
                          "return tape.gradient(z, v)", ("outside_tape",)),
    ("ex1-cube-gradient", _CUBE.format(WATCH=_WATCH, LOSS="tf.reduce_mean(v.numpy() ** 3)"), ("outside_tape",)),
    ("ex1-cube-gradient", _CUBE.format(WATCH=_WATCH, LOSS="tf.reduce_sum(v ** 3)"), ("sum_reduction",)),
    ("ex1-cube-gradient", _CUBE.format(WATCH=_WATCH, LOSS="tf.reduce_mean(v ** 2)"), ("other_function",)),
    ("ex1-cube-gradient", "v = tf.constant([1.0, 2.0, 3.0])\n" + _CUBE.format(WATCH=_WATCH, LOSS="tf.reduce_mean(v ** 3)"),
     ("example_input",)),
    ("ex1-cube-gradient", "return 3 * v ** 2 / 3", ("fixed_n",)),
]
# Exercise 4, Keras's SGD(momentum) by hand.
_MOMENTUM = ("x = tf.cast(x, tf.float32)\ny = tf.cast(y, tf.float32)\nw = tf.Variable(float(w0))\nb = tf.Variable(float(b0))\n"
             "{SETUP}losses = []\nfor _ in range(epochs):\n{RESET}    with tf.GradientTape() as tape:\n"
             "        loss = tf.reduce_mean((w * x + b - y) ** 2)\n    dw, db = tape.gradient(loss, [w, b])\n"
             "{UPDATE}    losses.append(float(loss))\nreturn w, b, losses")
_VELOCITY = "vw = tf.Variable(0.0)\nvb = tf.Variable(0.0)\n"
_KERAS_RULE = ("    vw.assign(momentum * vw - lr * dw)\n    vb.assign(momentum * vb - lr * db)\n"
               "    w.assign_add(vw)\n    b.assign_add(vb)\n")
_OPTIMIZER = "optimizer = keras.optimizers.SGD(learning_rate=lr, momentum=momentum{NESTEROV})\n"
_APPLY = "    optimizer.apply_gradients(zip([dw, db], [w, b]))\n"
CORRECT += [
    ("ex4-fit-momentum", _MOMENTUM.format(SETUP=_VELOCITY, RESET="", UPDATE=_KERAS_RULE), ()),
    ("ex4-fit-momentum", _MOMENTUM.format(SETUP=_OPTIMIZER.format(NESTEROV=""), RESET="", UPDATE=_APPLY), ()),
    # Python numbers for the velocities: tensors carried from epoch to epoch.
    ("ex4-fit-momentum", _MOMENTUM.format(SETUP="vw, vb = 0.0, 0.0\n", RESET="", UPDATE=(
        "    vw = momentum * vw - lr * dw\n    vb = momentum * vb - lr * db\n    w.assign_add(vw)\n    b.assign_add(vb)\n")), ()),
    # The heavy ball: w ← w − lr·g + μ·(w − w_previous), the same steps.
    ("ex4-fit-momentum", _MOMENTUM.format(SETUP="w_previous, b_previous = float(w0), float(b0)\n", RESET="", UPDATE=(
        "    step_w = -lr * dw + momentum * (w - w_previous)\n    step_b = -lr * db + momentum * (b - b_previous)\n"
        "    w_previous, b_previous = float(w), float(b)\n    w.assign_add(step_w)\n    b.assign_add(step_b)\n")), ()),
    # PyTorch's form, v ← μ·v + g, w ← w − lr·v: the same steps while lr is constant.
    ("ex4-fit-momentum", _MOMENTUM.format(SETUP=_VELOCITY, RESET="", UPDATE=(
        "    vw.assign(momentum * vw + dw)\n    vb.assign(momentum * vb + db)\n"
        "    w.assign_sub(lr * vw)\n    b.assign_sub(lr * vb)\n")), ()),
]
MISTAKES += [
    ("ex4-fit-momentum", _MOMENTUM.format(SETUP="", RESET="    " + _OPTIMIZER.format(NESTEROV=""), UPDATE=_APPLY),
     ("velocity_reset",)),
    ("ex4-fit-momentum", _MOMENTUM.format(SETUP="", RESET="    vw = tf.Variable(0.0)\n    vb = tf.Variable(0.0)\n",
                                          UPDATE=_KERAS_RULE), ("velocity_reset",)),
    ("ex4-fit-momentum", _MOMENTUM.format(SETUP=_VELOCITY, RESET="", UPDATE=(
        "    vw.assign(momentum * vw + (1 - momentum) * dw)\n    vb.assign(momentum * vb + (1 - momentum) * db)\n"
        "    w.assign_sub(lr * vw)\n    b.assign_sub(lr * vb)\n")), ("ema_momentum",)),
    ("ex4-fit-momentum", _MOMENTUM.format(SETUP=_VELOCITY, RESET="", UPDATE=(
        "    w.assign_add(vw)\n    b.assign_add(vb)\n"
        "    vw.assign(momentum * vw - lr * dw)\n    vb.assign(momentum * vb - lr * db)\n")), ("position_first",)),
    ("ex4-fit-momentum", _MOMENTUM.format(SETUP=_VELOCITY, RESET="", UPDATE=_KERAS_RULE.replace(
        "w.assign_add(vw)", "w.assign_add(lr * vw)").replace("b.assign_add(vb)", "b.assign_add(lr * vb)")),
     ("momentum_lr_twice",)),
    ("ex4-fit-momentum", _MOMENTUM.format(SETUP=_OPTIMIZER.format(NESTEROV=", nesterov=True"), RESET="", UPDATE=_APPLY),
     ("nesterov_update",)),
    ("ex4-fit-momentum", _MOMENTUM.format(SETUP=_VELOCITY, RESET="", UPDATE=_KERAS_RULE.replace("- lr", "+ lr")),
     ("sign_flip",)),
]
# Exercise 5, which of the ten calls trace double().
CORRECT += [
    ("ex5-predict-retrace", "traced_calls = [1, 3, 4, 6, 8, 9, 10]", ()),
    ("ex5-predict-retrace", "traced_calls = (10, 9, 8, 6, 4, 3, 1)", ()),
    ("ex5-predict-retrace", "traced_calls = {1, 3, 4, 6, 8, 9, 10}", ()),
    ("ex5-predict-retrace", "traced_calls = np.array([1, 3, 4, 6, 8, 9, 10])", ()),
    ("ex5-predict-retrace", "traced_calls = [call for call in range(1, 11) if call not in (2, 5, 7)]", ()),
]
MISTAKES += [
    ("ex5-predict-retrace", "traced_calls = list(range(1, 11))", ("every_call_traces",)),
    ("ex5-predict-retrace", "traced_calls = [1, 2, 3, 4, 5, 6, 8, 9, 10]", ("tensor_values_retrace",)),
    ("ex5-predict-retrace", "traced_calls = [1, 3, 4, 6, 9, 10]", ("python_numbers_by_type",)),
    ("ex5-predict-retrace", "traced_calls = [1, 3, 6, 8, 9, 10]", ("dtype_ignored",)),
    ("ex5-predict-retrace", "traced_calls = [1, 3, 4, 5, 6, 8, 9, 10]", ("numpy_by_value",)),
    ("ex5-predict-retrace", "traced_calls = [1, 3, 4, 6, 8, 10]", ("scalar_tensor_as_python",)),
    ("ex5-predict-retrace", "traced_calls = [3, 4, 6, 8, 9, 10]", ("first_call_not_counted",)),
    ("ex5-predict-retrace", "traced_calls = [0, 2, 3, 5, 7, 8, 9]", ("numbered_from_zero",)),
]
SAYS = {}
