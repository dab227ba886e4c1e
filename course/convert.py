"""Turn whatever a learner holds a number in into plain floats, and say clearly when that is impossible.

A learner's ``w`` may be a Python float, a NumPy scalar or a one-element
array, a PyTorch tensor (with ``requires_grad``, on the GPU), a
``tf.Variable``, one entry of Keras ``get_weights()``; a loss history may be a
list of any of those, an array, a tensor or a Keras ``History``.  Everything
here is duck-typed so that importing this module never imports PyTorch or
TensorFlow.  Anything that cannot be read as a number raises
``AssertionError`` with one sentence saying what was expected and what came.
"""

from __future__ import annotations

# Bound at import time on purpose: a learner who rebinds ``builtins.len`` or
# ``numpy.asarray`` in their session must not change how they are graded.
from builtins import (
    AssertionError, Exception, OverflowError, all, bool, bytes, callable, complex, dict, float,
    getattr, hasattr, int, isinstance, len, list, repr, str, tuple, type,
)

import os.path as _os_path
import re as _re
import sys as _sys

from numpy import asarray as _asarray
from numpy import float32 as _float32
from numpy import float64 as _float64
from numpy import generic as _np_generic
from numpy import ndarray as _ndarray
from numpy import squeeze as _squeeze

__all__ = ["to_float", "to_array", "describe", "to_framework", "fail", "CheckFailed", "learner_frames"]

_REPR_LIMIT = 60  # characters of a received value quoted back in a message


# Where the course's own code lives: its frames are machinery, never shown to a learner.
_COURSE_DIR = _os_path.dirname(_os_path.abspath(__file__))
_MISTAKE_TAG = _re.compile(r"^\[mistake: [a-z0-9_, ]+\]$", _re.MULTILINE)
_WIDTH = 92  # characters per line of a rendered verdict (wraps in a narrow Validate dialog too)
_RED, _BOLD, _DIM, _RESET = "\x1b[0;31m", "\x1b[1m", "\x1b[2m", "\x1b[0m"


def _is_course_frame(filename: str) -> bool:
    return _os_path.abspath(filename).startswith(_COURSE_DIR + _os_path.sep)


def _check_name() -> str:
    """The public ``check_*`` (or ``to_*``) function of the course that is failing, outermost first."""
    frame, name = _sys._getframe(1), ""
    while frame is not None:
        if _is_course_frame(frame.f_code.co_filename) and not frame.f_code.co_name.startswith("_"):
            name = frame.f_code.co_name
        frame = frame.f_back
    return name


def _cell_label(filename: str) -> str:
    """``Cell In[5]`` for a notebook cell (as IPython names it), else the file without grader paths."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
        number = getattr(getattr(shell, "compile", None), "_filename_map", {}).get(filename)
        if number is not None:
            return f"Cell In[{number}]"
    except Exception:  # no IPython: a plain file name
        pass
    if "ipykernel_" in filename or filename.startswith("<"):
        return "your cell"
    for marker in ("site-packages" + _os_path.sep, "dist-packages" + _os_path.sep):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return _os_path.basename(filename)


def learner_frames(error) -> list:
    """The frames of ``error``'s traceback that are not the course's: the learner's code (and the
    library call that raised), as text lines without the grader's paths."""
    import linecache
    import traceback as _traceback

    frames = [frame for frame in _traceback.extract_tb(error.__traceback__)
              if not _is_course_frame(frame.filename)]
    lines = []
    for frame in frames:
        source = (frame.line or linecache.getline(frame.filename, frame.lineno) or "").strip()
        lines.append(f"  {_cell_label(frame.filename)}, line {frame.lineno}, in {frame.name}")
        if source:
            lines.append(f"    {source}")
    return lines


def _wrap(line: str, indent: str = "  ") -> list:
    import textwrap

    if len(line) <= _WIDTH:
        return [line]
    return textwrap.wrap(line, _WIDTH, subsequent_indent=indent, break_long_words=False,
                         break_on_hyphens=False) or [line]


# A message's emphasis, ``*loss summed instead of averaged*`` (the named mistake's title): not a ``*``
# of code such as ``2 * x`` or ``** 2``.
_EMPHASIS = _re.compile(r"(?<![\w*])\*(?=[^\s*])([^*]+?)(?<=\S)\*(?![\w*])")


def _embolden(lines: list) -> list:
    """Emphasis drawn in bold instead of between asterisks, on each line a wrapped title spans."""
    text = "\n".join(lines)
    def bold(part: str) -> str:
        words = part.lstrip()
        return f"{part[:len(part) - len(words)]}{_BOLD}{words}{_RESET}" if words else part

    text = _EMPHASIS.sub(lambda m: "\n".join(bold(part) for part in m.group(1).split("\n")), text)
    return text.split("\n")


class CheckFailed(AssertionError):
    """A check's verdict: an ``AssertionError`` (nbgrader scores the cell zero) that IPython shows as
    the message alone, with no frames of the course's own code.

    ``str(error)`` is the full message, ending with the ``[mistake: …]`` line the autograder's report
    reads back; the rendered block leaves that machine line out.  When the learner's own code raised
    inside the check, its frames are shown under the message: that traceback is the useful one.
    """

    def __init__(self, message, check="", learner_error=None):
        super().__init__(message)
        self.check = check
        self.learner_error = learner_error

    def student_lines(self) -> list:
        """The verdict as a student reads it: wrapped lines, no machine tag, a fix on its own line."""
        text = _MISTAKE_TAG.sub("", str(self.args[0] if self.args else "")).strip()
        lines = []
        for paragraph in text.splitlines():
            paragraph = paragraph.rstrip()
            if not paragraph:
                continue
            head, sep, fix = paragraph.partition(" Fix: ")
            lines += _wrap(head)
            if sep:
                lines += _wrap("  Fix: " + fix, indent="       ")
        return _embolden(lines)

    def _render_traceback_(self):
        what = f" in {self.check}" if self.check else ""
        out = [f"{_RED}{_BOLD}✗ Check failed{what}{_RESET}"]
        out += self.student_lines()
        if self.learner_error is not None:
            frames = learner_frames(self.learner_error)
            if frames:
                out.append(f"{_DIM}Where your code raised {type(self.learner_error).__name__}:{_RESET}")
                out += frames
        return out


def fail(message: str, learner_error=None):
    """Raise the check's verdict (``CheckFailed``, an ``AssertionError``) without an internal traceback."""
    error = CheckFailed(message, check=_check_name(), learner_error=learner_error)
    # Raised while handling the learner's own exception: don't chain it, the message already quotes it.
    error.__suppress_context__ = True
    raise error


def _module_of(value) -> str:
    return getattr(type(value), "__module__", "") or ""


def _short_repr(value) -> str:
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not break the message
        return f"an object of type {type(value).__name__}"
    return text if len(text) <= _REPR_LIMIT else text[: _REPR_LIMIT - 1] + "…"


def _is_torch_module(value) -> bool:
    return _module_of(value).startswith("torch") and hasattr(value, "parameters") and hasattr(value, "forward")


def _is_keras_model(value) -> bool:
    module = _module_of(value)
    return (module.startswith("keras") or module.startswith("tensorflow")) and hasattr(value, "get_weights")


def _is_history(value) -> bool:
    return isinstance(getattr(value, "history", None), dict) and hasattr(value, "epoch")


def _is_tensor(value) -> bool:
    """A PyTorch tensor (``detach``) or a TensorFlow tensor/variable (``numpy``), not an ndarray."""
    if isinstance(value, (_ndarray, _np_generic)):
        return False
    return callable(getattr(value, "detach", None)) or callable(getattr(value, "numpy", None))


def _looks_like_weight_list(value) -> bool:
    """``model.get_weights()`` / ``list(model.parameters())``: two things of different shapes."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return False
    shapes = [getattr(item, "shape", None) for item in value]
    return all(shape is not None for shape in shapes) and tuple(shapes[0]) != tuple(shapes[1])


def describe(value) -> str:
    """A few words for what was received: ``the string '1.5'``, ``a NumPy array of shape (3,)``…"""
    if value is None:
        return "None"
    if isinstance(value, bool):
        return f"the bool {value}"
    if isinstance(value, (str, bytes)):
        return f"the string {_short_repr(value)}"
    if _is_history(value):
        return "a Keras History object"
    if _is_torch_module(value):
        return f"a PyTorch model ({type(value).__name__})"
    if _is_keras_model(value):
        return f"a Keras model ({type(value).__name__})"
    if isinstance(value, _ndarray):
        return f"a NumPy array of shape {tuple(value.shape)}"
    shape = getattr(value, "shape", None)
    if _is_tensor(value) and shape is not None:
        kind = "PyTorch tensor" if _module_of(value).startswith("torch") else f"{type(value).__name__}"
        try:
            return f"a {kind} of shape {tuple(shape)}"
        except Exception:
            return f"a {kind}"
    if isinstance(value, (list, tuple)):
        kind = type(value).__name__
        return f"a {kind} of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, (int, float, complex, _np_generic)):
        return _short_repr(value)
    if isinstance(value, dict):
        keys = ", ".join(_short_repr(key) for key in list(value)[:4])
        return f"a dict (keys: {keys or 'none'})"
    if callable(value):
        return f"a function or callable ({type(value).__name__})"
    return f"an object of type {type(value).__name__}"


def _tensor_to_numpy(value, name: str):
    """A tensor's values as an ndarray (detached, on the CPU); ``AssertionError`` if unreadable."""
    try:
        if callable(getattr(value, "detach", None)):  # PyTorch: drop the graph, leave the GPU
            value = value.detach()
            if callable(getattr(value, "cpu", None)):
                value = value.cpu()
            if getattr(value, "is_floating_point", lambda: False)():
                value = value.double()  # bfloat16/half cannot go to NumPy directly
            return value.numpy()
        return _asarray(value.numpy())  # TensorFlow tensor / tf.Variable / Keras variable
    except Exception as error:
        fail(f"{name} should hold numbers, but received {describe(value)} whose values could not be read "
             f"({type(error).__name__}: {error}).")


def to_float(value, name: str = "the value") -> float:
    """``value`` as a Python float (NaN and inf pass through); ``AssertionError`` when it is no number."""
    if isinstance(value, float):  # the common case first; also NumPy float64
        return float(value)
    if value is None:
        fail(f"{name} should be a number, but received None (did a function forget to `return`?).")
    if isinstance(value, bool) or (isinstance(value, _np_generic) and value.dtype.kind == "b"):
        fail(f"{name} should be a number, but received the bool {value}.")
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            fail(f"{name} should be a number a float can hold, but received an integer with "
                 f"{len(str(value))} digits.")
    if isinstance(value, (str, bytes)):
        fail(f"{name} should be a number, but received the string {_short_repr(value)}"
             " (a number in quotes is text: remove the quotes).")
    if isinstance(value, complex) or (isinstance(value, _np_generic) and value.dtype.kind == "c"):
        fail(f"{name} should be a real number, but received the complex number {_short_repr(value)}.")
    if _is_history(value):
        fail(f"{name} should be a number, but received a Keras History object "
             "(that is the loss history: read the weights with model.get_weights()).")
    if _is_torch_module(value):
        fail(f"{name} should be a number, but received {describe(value)}; read its parameter instead, "
             "e.g. model.weight.item() for w and model.bias.item() for b.")
    if _is_keras_model(value):
        fail(f"{name} should be a number, but received {describe(value)}; read its weights instead: "
             "kernel, bias = model.get_weights(), then w = kernel[0, 0] and b = bias[0].")
    if _looks_like_weight_list(value):
        fail(f"{name} should be a single number, but received a list of two arrays of shapes "
             f"{tuple(value[0].shape)} and {tuple(value[1].shape)}, which looks like the whole "
             "model.get_weights() (or list(model.parameters())): pass its first item as w and its second as b.")
    if _is_tensor(value):
        value = _tensor_to_numpy(value, name)
    if isinstance(value, (list, tuple)):
        if len(value) == 1:
            return to_float(value[0], name)
        fail(f"{name} should be a single number, but received {describe(value)}.")
    if isinstance(value, _np_generic):
        try:
            return float(value)
        except Exception as error:
            fail(f"{name} should be a number, but received {_short_repr(value)} ({type(error).__name__}).")
    if isinstance(value, _ndarray):
        if value.size == 1:
            item = value.reshape(-1)[0]
            return to_float(item.item() if isinstance(item, _np_generic) else item, name)
        if value.size == 0:
            fail(f"{name} should be a single number, but received an empty array of shape {tuple(value.shape)}.")
        fail(f"{name} should be a single number, but received an array of shape {tuple(value.shape)} "
             f"({value.size} numbers).")
    if callable(value):
        fail(f"{name} should be a number, but received {describe(value)}: did you forget to call it?")
    try:  # anything else that says it is a number: Fraction, Decimal, a custom class
        return float(value)
    except Exception as error:
        fail(f"{name} should be a number, but received {describe(value)}, which could not be turned into "
             f"one (float() raised {type(error).__name__}: {error}).")


def to_array(value, name: str = "the values") -> "_ndarray":
    """``value`` as a 1-D float64 array (a column or row of numbers is flattened)."""
    if value is None:
        fail(f"{name} should be a list or array of numbers, but received None.")
    if isinstance(value, (str, bytes, bool)):
        fail(f"{name} should be a list or array of numbers, but received {describe(value)}.")
    if _is_history(value):
        losses = value.history.get("loss")
        if losses is None:
            keys = ", ".join(repr(key) for key in value.history) or "nothing"
            fail(f"{name}: the Keras History has no 'loss' entry (it holds {keys}).")
        value = losses
    if isinstance(value, dict):  # history.history: Keras's per-metric lists
        if "loss" not in value:
            fail(f"{name} should be a list or array of numbers, but received {describe(value)}.")
        value = value["loss"]
    if _is_torch_module(value) or _is_keras_model(value):
        fail(f"{name} should be a list or array of numbers, but received {describe(value)}.")
    if _is_tensor(value):
        value = _tensor_to_numpy(value, name)
    if isinstance(value, (list, tuple)):
        # One item at a time: a list of 0-d tensors (losses appended without .item()) is common.
        value = [to_float(item, f"{name}[{index}]") for index, item in enumerate(value)]
    elif isinstance(value, (int, float, _np_generic)):
        fail(f"{name} should be a list or array of numbers, but received the single number {_short_repr(value)}.")
    elif not isinstance(value, _ndarray):
        if callable(value):
            fail(f"{name} should be a list or array of numbers, but received {describe(value)}.")
        try:
            value = [to_float(item, f"{name}[{index}]") for index, item in enumerate(value)]
        except AssertionError:
            raise
        except Exception:
            fail(f"{name} should be a list or array of numbers, but received {describe(value)}.")
    if isinstance(value, _ndarray) and value.dtype.kind == "O":
        value = [to_float(item, f"{name}[{index}]") for index, item in enumerate(value.reshape(-1))]
    if isinstance(value, _ndarray) and value.dtype.kind == "c":
        fail(f"{name} should hold real numbers, but received an array of complex numbers.")
    try:
        array = _asarray(value, dtype=_float64)
    except Exception as error:
        fail(f"{name} should be a list or array of numbers, but received {describe(value)} "
             f"({type(error).__name__}: {error}).")
    if array.ndim > 1:
        squeezed = _squeeze(array)
        if squeezed.ndim > 1:
            fail(f"{name} should be one row of numbers, but received an array of shape {tuple(array.shape)}.")
        array = squeezed
    return array.reshape(-1)


def to_framework(value, framework: str, *, variable: bool = False, requires_grad: bool = False):
    """``value`` (a float or float array) in the form a learner's function for ``framework`` expects.

    ``numpy``: float32 arrays and Python floats; ``torch``: float32 tensors
    (``requires_grad`` on request); ``tf``: float32 ``tf.constant``, or
    ``tf.Variable`` when ``variable`` (so GradientTape watches it unasked).
    """
    array = _asarray(value, dtype=_float32)
    if framework == "numpy":
        return float(array) if array.ndim == 0 else array.copy()
    if framework == "torch":
        import torch

        tensor = torch.tensor(array.copy(), dtype=torch.float32)
        return tensor.requires_grad_(True) if requires_grad else tensor
    if framework == "tf":
        from .reference import quiet_tensorflow

        tf = quiet_tensorflow()
        return tf.Variable(array, dtype=tf.float32) if variable else tf.constant(array, dtype=tf.float32)
    raise ValueError(f"framework must be 'numpy', 'torch' or 'tf', got {framework!r}")
