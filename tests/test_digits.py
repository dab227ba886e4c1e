"""course.digits: the offline stand-in for article 002's MNIST classifier learns, and is reproducible."""

import numpy as np

from course import digits


def test_split_is_stratified_scaled_and_complete():
    x_train, x_test, y_train, y_test = digits.load_digits_split()
    assert x_train.shape[1] == x_test.shape[1] == 64
    assert len(x_train) + len(x_test) == 1797
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    assert set(y_test) == set(range(10)), "every digit must be in the test set"


def test_classifier_beats_a_sensible_floor_on_held_out_digits():
    result = digits.train_digits()
    # Chance is 0.1: a floor of 0.9 fails only when training is broken, not on an unlucky seed.
    assert result.test_accuracy > 0.9, result
    assert result.losses[-1] < result.losses[0], "training loss must fall"
    assert len(result.losses) == result.epochs
    probabilities = result.model.predict(digits.load_digits_split()[1][:5], verbose=0)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5), "softmax rows sum to one"


def test_same_seed_gives_the_same_run():
    first = digits.train_digits(epochs=2, seed=3)
    second = digits.train_digits(epochs=2, seed=3)
    assert np.array_equal(first.losses, second.losses)
    assert first.test_accuracy == second.test_accuracy
