"""Styles 4 and 5: a Keras ``Sequential`` model, and a TensorFlow ``GradientTape`` loop."""

from __future__ import annotations

import contextlib
import os
import sys

import numpy as np

from .result import FitResult, prepare


def quiet_tensorflow():
    """Import TensorFlow without its start-up chatter on stderr.

    nbgrader scores a test cell 0 when it writes to stderr, so the notebooks
    and the references import TensorFlow through this function.  Some of
    TensorFlow's C++ start-up lines (oneDNN's notice, absl's "before
    InitializeLog" warning) ignore ``TF_CPP_MIN_LOG_LEVEL``: the import runs
    with the process's own stderr (file descriptor 2, which Jupyter shows in
    the cell) pointed at ``/dev/null``.  Python's errors and warnings still
    show: they go through ``sys.stderr``, not that descriptor.
    """
    from ..notebook import QUIET_ENV

    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)
    if "tensorflow" not in sys.modules:
        with _native_stderr_to_devnull():
            import tensorflow  # noqa: F401
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return tf


@contextlib.contextmanager
def _native_stderr_to_devnull():
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def build_keras_model(w0=0.0, b0=0.0, *, lr=0.01, reduction="mean"):
    """``Sequential([Input((1,)), Dense(1)])`` compiled with plain SGD and MSE, starting at ``(w0, b0)``."""
    quiet_tensorflow()
    import keras

    model = keras.Sequential([keras.Input(shape=(1,)), keras.layers.Dense(1)])
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=lr),
        loss=keras.losses.MeanSquaredError(reduction="sum_over_batch_size" if reduction == "mean" else "sum"),
    )
    model.layers[0].set_weights([np.full((1, 1), w0, dtype=np.float32), np.full((1,), b0, dtype=np.float32)])
    return model


def keras_steps(model, x, y, epochs):
    """Run ``epochs`` full-batch steps of a compiled model in one ``tf.function`` call.

    This is what ``model.fit(x, y, batch_size=len(x), epochs=epochs,
    shuffle=False)`` does, step for step (the model's own loss and optimizer,
    one update per epoch), without fit's per-epoch data pipeline and callbacks
    (the History, and a progress bar unless verbose=0), which cost
    milliseconds an epoch.  Returns the loss
    before each update.
    """
    tf = quiet_tensorflow()
    xt = tf.constant(np.asarray(x, np.float32).reshape(-1, 1))
    yt = tf.constant(np.asarray(y, np.float32).reshape(-1, 1))
    variables = model.trainable_variables

    @tf.function
    def run(n_steps):
        losses = tf.TensorArray(tf.float32, size=n_steps)
        for step in tf.range(n_steps):
            with tf.GradientTape() as tape:
                # compute_loss works whether compile() got a loss object or a string like "mse"
                loss = model.compute_loss(x=xt, y=yt, y_pred=model(xt, training=True))
            grads = tape.gradient(loss, variables)
            model.optimizer.apply(grads, variables)
            losses = losses.write(step, loss)
        return losses.stack()

    return run(tf.constant(int(epochs))).numpy() if epochs else np.empty(0, np.float32)


def fit_keras(x, y, *, lr, epochs, w0=0.0, b0=0.0, reduction="mean", use_fit=False) -> FitResult:
    """Keras ``Sequential`` + ``compile(SGD(lr), mse)``, trained full batch.

    ``use_fit=True`` calls ``model.fit`` itself (slow, but the same numbers);
    the default runs the same steps through :func:`keras_steps`.
    """
    x, y = prepare(x, y, lr, epochs, reduction)
    model = build_keras_model(w0, b0, lr=lr, reduction=reduction)
    if use_fit:
        if epochs:
            history = model.fit(
                x.astype(np.float32).reshape(-1, 1), y.astype(np.float32).reshape(-1, 1),
                batch_size=x.size, epochs=epochs, shuffle=False, verbose=0,
            )
            losses = np.asarray(history.history["loss"], dtype=np.float64)
        else:
            losses = np.empty(0)
    else:
        losses = np.asarray(keras_steps(model, x, y, epochs), dtype=np.float64)
    kernel, bias = model.layers[0].get_weights()
    return FitResult("keras", float(kernel.ravel()[0]), float(bias.ravel()[0]), losses, float(lr), int(epochs), reduction)


def fit_tape(x, y, *, lr, epochs, w0=0.0, b0=0.0, reduction="mean") -> FitResult:
    """``tf.Variable`` w and b, ``tf.GradientTape``, ``assign_sub`` updates, the loop under ``tf.function``."""
    tf = quiet_tensorflow()
    x, y = prepare(x, y, lr, epochs, reduction)
    xt = tf.constant(x, dtype=tf.float32)
    yt = tf.constant(y, dtype=tf.float32)
    w = tf.Variable(float(w0), dtype=tf.float32)
    b = tf.Variable(float(b0), dtype=tf.float32)
    lr_t = tf.constant(float(lr), dtype=tf.float32)

    @tf.function
    def train(n_steps):
        losses = tf.TensorArray(tf.float32, size=n_steps)
        for step in tf.range(n_steps):
            with tf.GradientTape() as tape:
                squared = tf.square(w * xt + b - yt)
                loss = tf.reduce_mean(squared) if reduction == "mean" else tf.reduce_sum(squared)
            grad_w, grad_b = tape.gradient(loss, [w, b])
            w.assign_sub(lr_t * grad_w)
            b.assign_sub(lr_t * grad_b)
            losses = losses.write(step, loss)
        return losses.stack()

    losses = train(tf.constant(int(epochs))).numpy() if epochs else np.empty(0)
    return FitResult("tape", float(w.numpy()), float(b.numpy()), np.asarray(losses, np.float64), float(lr), int(epochs), reduction)
