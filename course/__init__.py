"""Shared helpers for the course "Gradient descent, five ways".

Every notebook imports this one package for its data, reference solutions,
checks, plots and sliders, so that text and code cannot drift apart.
Importing ``course`` is cheap: PyTorch and TensorFlow are imported only by
the functions that need them.
"""

__version__ = "0.1.0"

__all__ = ["data", "reference"]
