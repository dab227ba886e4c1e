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
SAYS = {}
