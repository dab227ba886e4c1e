"""An offline stand-in for article 002's Keras MNIST classifier.

The article trains ``Flatten → Dense(128, relu) → Dropout(0.2) → Dense(10,
softmax)`` with Adam and sparse categorical cross-entropy on MNIST, which
has to be downloaded.  The same recipe runs here on scikit-learn's 8×8
handwritten digits (1,797 images shipped inside the package), in a few
seconds and with no network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DigitsResult:
    """What a training run of the digit classifier gives back."""

    test_accuracy: float
    train_accuracy: float
    losses: np.ndarray  # training loss at the end of each epoch
    n_train: int
    n_test: int
    epochs: int
    model: object  # the trained keras.Sequential

    def __repr__(self) -> str:
        return (
            f"DigitsResult(test accuracy={self.test_accuracy:.4f}, train accuracy={self.train_accuracy:.4f}, "
            f"epochs={self.epochs}, n_train={self.n_train}, n_test={self.n_test})"
        )


def load_digits_split(test_fraction: float = 0.25, seed: int = 0):
    """scikit-learn's 8×8 digits as ``(x_train, x_test, y_train, y_test)``, pixels scaled to [0, 1].

    The split is stratified (every digit in both halves in proportion) and seeded.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    images = load_digits()
    # Pixel intensities run 0..16 in this dataset (MNIST's run 0..255): scale like the article did.
    x = (images.data / 16.0).astype(np.float32)
    y = images.target.astype(np.int64)
    return train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)


def build_digit_model(hidden: int = 128, dropout: float = 0.2):
    """Article 002's architecture for 64-pixel inputs: Dense(relu) → Dropout → Dense(10, softmax)."""
    from .reference import quiet_tensorflow

    quiet_tensorflow()
    import keras

    model = keras.Sequential([
        keras.Input(shape=(64,)),
        keras.layers.Dense(hidden, activation="relu"),
        keras.layers.Dropout(dropout),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def train_digits(*, epochs: int = 8, hidden: int = 128, batch_size: int = 32, seed: int = 0) -> DigitsResult:
    """Train the classifier and evaluate it on held-out digits; seeded, a few seconds on a CPU."""
    from .reference import quiet_tensorflow

    quiet_tensorflow()
    import keras

    if not (isinstance(epochs, (int, np.integer)) and epochs >= 1):
        raise ValueError(f"epochs must be a whole number >= 1, got {epochs!r}")
    # Seeds Python, NumPy and the backend at once: weights, dropout masks and
    # fit's shuffling are then the same on every run.
    keras.utils.set_random_seed(seed)
    x_train, x_test, y_train, y_test = load_digits_split(seed=seed)
    model = build_digit_model(hidden=hidden)
    history = model.fit(x_train, y_train, epochs=int(epochs), batch_size=batch_size, verbose=0)
    _, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    _, train_accuracy = model.evaluate(x_train, y_train, verbose=0)
    return DigitsResult(
        test_accuracy=float(test_accuracy),
        train_accuracy=float(train_accuracy),
        losses=np.asarray(history.history["loss"], dtype=np.float64),
        n_train=int(len(x_train)),
        n_test=int(len(x_test)),
        epochs=int(epochs),
        model=model,
    )


if __name__ == "__main__":
    print(train_digits())
