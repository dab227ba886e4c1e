"""Notebook 5, tf.GradientTape."""
_TAPE = ("x = tf.cast(x, tf.float32)\ny = tf.cast(y, tf.float32)\nw = tf.Variable(float(w0))\nb = tf.Variable(float(b0))\n"
         "{STEP}losses = []\nfor _ in range(epochs):\n    losses.append({CALL})\nreturn w, b, losses")
_STEP = ("{DECO}def one_step():\n    with tf.GradientTape() as tape:\n        loss = {LOSS}\n"
         "    dw, db = tape.gradient(loss, [w, b])\n    w.{OP}(lr * dw)\n    b.{OP}(lr * db)\n    return loss\n")
CORRECT = [
    ("ex1-grad-cube", "grad_cube = tf.constant([1.0, 4.0, 9.0])", ()),
    ("ex1-grad-cube", "v = tf.constant([1.0, 2.0, 3.0])\nwith tf.GradientTape() as tape:\n    tape.watch(v)\n    m = tf.reduce_mean(tf.pow(v, 3))\ngrad_cube = tape.gradient(m, v).numpy()", ()),
    ("ex2-gradients", "@tf.function\ndef loss_and_grads(w, b):\n    with tf.GradientTape() as tape:\n        loss = tf.reduce_mean(tf.square(w * x + b - y))\n    return tape.gradient(loss, [w, b])\nreturn tuple(loss_and_grads(w, b))", ()),
    ("ex2-gradients", "with tf.GradientTape() as tape:\n    loss = keras.losses.MeanSquaredError()(y, w * x + b)\nreturn tf.stack(tape.gradient(loss, [w, b]))", ()),
    ("ex3-fit-tape", _TAPE.format(STEP=_STEP.format(DECO="@tf.function\n", LOSS="tf.reduce_mean((w * x + b - y) ** 2)", OP="assign_sub"),
                                  CALL="float(one_step())"), ()),
    ("ex3-fit-tape", _TAPE.format(STEP=_STEP.format(DECO="", LOSS="tf.reduce_mean(tf.math.squared_difference(w * x + b, y))", OP="assign_sub"),
                                  CALL="one_step().numpy()"), ()),
]
MISTAKES = [
    ("ex1-grad-cube", "grad_cube = [3.0, 12.0, 27.0]", ("sum_reduction",)),
    ("ex2-gradients", "with tf.GradientTape() as tape:\n    loss = tf.reduce_sum((w * x + b - y) ** 2)\nreturn tape.gradient(loss, [w, b])", ("sum_reduction",)),
    ("ex2-gradients", "with tf.GradientTape() as tape:\n    loss = tf.reduce_mean((w * x + b - y) ** 2) / 2\nreturn tape.gradient(loss, [w, b])", ("grad_half",)),
    ("ex3-fit-tape", _TAPE.format(STEP=_STEP.format(DECO="", LOSS="tf.reduce_mean((w * x + b - y) ** 2)", OP="assign_add"),
                                  CALL="float(one_step())"), ("sign_flip",)),
    ("ex3-fit-tape", _TAPE.format(STEP=_STEP.format(DECO="", LOSS="tf.reduce_sum((w * x + b - y) ** 2)", OP="assign_sub"),
                                  CALL="float(one_step()) / 6"), ()),
]
# A second class's slips (issue 27): each must be named, with a TensorFlow fix.
_SGD = ("x = tf.cast(x, tf.float32)\ny = tf.cast(y, tf.float32)\nw = tf.Variable(float(w0))\nb = tf.Variable(float(b0))\n"
        "optimizer = keras.optimizers.SGD(learning_rate=lr)\nlosses = []\nfor _ in range(epochs):\n"
        "    with tf.GradientTape() as tape:\n        loss = tf.reduce_mean((w * x + b - y) ** 2)\n"
        "    grads = tape.gradient(loss, [w, b])\n    optimizer.apply_gradients(zip(grads, {ORDER}))\n"
        "    losses.append(float(loss))\nreturn w, b, losses")
_CROSSED = _STEP.format(DECO="", LOSS="tf.reduce_mean((w * x + b - y) ** 2)", OP="assign_sub").replace("b.assign_sub(lr * db)", "b.assign_sub(lr * dw)")
MISTAKES += [
    ("ex1-grad-cube", "grad_cube = 2 * np.array([1.0, 2.0, 3.0]) / 3", ("other_function",)),
    ("ex2-gradients", "with tf.GradientTape() as tape:\n    loss = tf.reduce_mean(w * x + b - y) ** 2\nreturn tape.gradient(loss, [w, b])", ("square_of_mean",)),
    ("ex3-fit-tape", _TAPE.format(STEP=_CROSSED, CALL="float(one_step())"), ("crossed_grad",)),
    ("ex3-fit-tape", _TAPE.format(STEP=_STEP.format(DECO="", LOSS="tf.reduce_mean((w * x + b - y) ** 2)", OP="assign_sub"),
                                  CALL="float(one_step())").replace("range(epochs)", "range(1, epochs)"), ("epochs_off",)),
    ("ex4-final-values", "w, b, losses = fit_tape(x, y, lr=0.05, epochs=199)", ("epochs_off",)),
    ("ex5-fit-tape-sgd", _SGD.format(ORDER="[b, w]"), ("crossed_grad",)),
]
SAYS = {}
