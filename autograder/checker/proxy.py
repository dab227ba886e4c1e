"""In the checker: the learner's names as data, or as proxies whose every use is a request to their kernel.

A proxy holds a reference number and the type's names the kernel reported,
nothing else.  What it lets test code do is a short list, each a request with
data arguments and a checked answer: attribute access, a call, ``float``,
``int``, ``bool``, ``len``, iteration, indexing, ``repr`` and ``str``, and
``numpy.asarray``.  Comparisons and hashing are the proxy's own (by identity),
so an object whose ``__eq__`` or ``__hash__`` lies cannot make a test pass.
``isinstance(proxy, keras.Sequential)`` works when the class the kernel
reports is one the checker has imported itself.
"""

from __future__ import annotations

import builtins
import importlib
import sys
import warnings

import numpy as np

from autograder.kernel import wire

#: Modules a learner's module name may be swapped for (the checker's own import of them).
TRUSTED_MODULES = ("numpy", "math", "course", "torch", "tensorflow", "keras", "random", "statistics")


class ChannelError(Exception):
    """The learner's kernel could not be asked (it died, timed out, or answered out of protocol)."""


class LearnerError(Exception):
    """An exception the learner's code raised in their kernel: its type, message and their frames."""

    frames: list = []


_ERROR_CLASSES: dict = {}


def learner_error(info) -> LearnerError:
    """An exception whose class has the learner's type name (and a builtin base, so ``except`` works)."""
    if not isinstance(info, dict):
        return ChannelError("the kernel's answer about an error could not be read")
    name = wire.identifier(info.get("type"), "Exception").rpartition(".")[2]
    base = None
    for candidate in info.get("bases", []) if isinstance(info.get("bases"), list) else []:
        value = getattr(builtins, str(candidate), None)
        if isinstance(value, type) and issubclass(value, Exception) and value is not Exception:
            base = value
            break
    key = (name, base)
    if key not in _ERROR_CLASSES:
        try:
            _ERROR_CLASSES[key] = type(name, (LearnerError,) + ((base,) if base else ()), {})
        except TypeError:  # a builtin whose layout cannot be mixed in
            _ERROR_CLASSES[key] = type(name, (LearnerError,), {})
    message = info.get("message")
    error = _ERROR_CLASSES[key](str(message)[:2000] if isinstance(message, str) else "")
    frames = info.get("frames")
    error.frames = [str(line)[:300] for line in frames[:40]] if isinstance(frames, list) else []
    return error


# ---------------------------------------------------------------------------------------------
# Tensors: the array with what the learner's framework said about it.


class _TensorValue:
    """A tensor's values as they were in the kernel (an ndarray), with dtype, device and requires_grad."""

    def __init__(self, array: np.ndarray, body: dict, grad=None):
        self._array = array
        self.dtype = str(body.get("dtype", ""))[:40]
        self.device = str(body.get("device", ""))[:40]
        self.requires_grad = body.get("requires_grad") is True
        self.grad = grad
        self._gd_body = body

    shape = property(lambda self: tuple(self._array.shape))
    ndim = property(lambda self: self._array.ndim)

    def numpy(self):
        return self._array.copy()

    def __array__(self, dtype=None, copy=None):
        return self._array.astype(dtype) if dtype is not None else self._array.copy()

    def item(self):
        return self._array.item()

    def tolist(self):
        return self._array.tolist()

    def __float__(self):
        return float(self._array)

    def __int__(self):
        return int(self._array)

    def __len__(self):
        return len(self._array)

    def __iter__(self):
        return iter([self._wrap(item) for item in self._array])

    def __getitem__(self, key):
        return self._wrap(self._array[key])

    def _wrap(self, array):
        return type(self)(np.asarray(array), self._gd_body)

    def __repr__(self):
        return f"{type(self).__name__}({np.array2string(self._array, threshold=20)}, dtype={self.dtype})"


class TorchTensorValue(_TensorValue):
    """What a ``torch.Tensor`` of the learner's looked like (duck-typed like one by the course's checks)."""

    def detach(self):
        return self

    def cpu(self):
        return self

    def double(self):
        return type(self)(self._array.astype(np.float64), self._gd_body)

    def is_floating_point(self):
        return self._array.dtype.kind == "f"


class TFTensorValue(_TensorValue):
    """What a TensorFlow tensor or variable (or a Keras variable) of the learner's looked like."""


_TENSOR_CLASSES: dict = {}


def _tensor_class(fw: str, kind: str, module: str):
    key = (fw, kind, module)
    if key not in _TENSOR_CLASSES:
        base = TorchTensorValue if fw == "torch" else TFTensorValue
        _TENSOR_CLASSES[key] = type(kind, (base,), {"__module__": module})
    return _TENSOR_CLASSES[key]


# ---------------------------------------------------------------------------------------------
# Proxies.


class Proxy:
    """An object that stays in the learner's kernel."""

    __slots__ = ("_gd_ref", "_gd_session", "_gd_info")

    def __init__(self, ref: int, session, info: dict):
        object.__setattr__(self, "_gd_ref", ref)
        object.__setattr__(self, "_gd_session", session)
        object.__setattr__(self, "_gd_info", info)

    def _gd_ask(self, op, **fields):
        return self._gd_session.request(op, ref=self._gd_ref, **fields)

    def __getattr__(self, name):
        # A function's own name is data the checks use for their messages (fit_keras, fit_torch);
        # every other special name stays the proxy's own.
        if name.startswith("__") and name.endswith("__") and name not in ("__name__", "__qualname__"):
            raise AttributeError(name)
        return self._gd_ask("getattr", name=name)

    def __setattr__(self, name, value):
        raise AttributeError("the grader does not change objects of the learner's")

    @property
    def __class__(self):
        return self._gd_session.local_class(self._gd_info) or type(self)

    def _gd_typed(self, op, kinds, what):
        value = self._gd_ask(op)
        if type(value) not in kinds:
            raise TypeError(f"{what} of a {type(self).__name__} gave a {type(value).__name__}")
        return value

    def __float__(self):
        value = self._gd_ask("float")
        if type(value) is not float:
            raise TypeError(f"float() of a {type(self).__name__} did not give a float")
        return value

    def __int__(self):
        return self._gd_typed("int", (int,), "int()")

    def __index__(self):
        return self._gd_typed("index", (int,), "__index__()")

    def __bool__(self):
        return self._gd_typed("bool", (bool,), "bool()")

    def __len__(self):
        value = self._gd_typed("len", (int,), "len()")
        if value < 0:
            raise ValueError("len() gave a negative number")
        return value

    def __iter__(self):
        items = self._gd_ask("iter")
        if type(items) is not list:
            raise TypeError("iterating gave no list")
        return iter(items)

    def __getitem__(self, key):
        return self._gd_session.request("getitem", ref=self._gd_ref, key=key)

    def __array__(self, dtype=None, copy=None):
        value = self._gd_ask("array")
        if type(value) is not np.ndarray or value.dtype.kind not in "biufc":
            raise TypeError(f"numpy.asarray() of a {type(self).__name__} gave no array of numbers")
        return value.astype(dtype) if dtype is not None else value

    def __repr__(self):
        try:
            text = self._gd_ask("repr")
        except Exception:  # noqa: BLE001
            return f"<{type(self).__name__} object>"
        return text[:500] if type(text) is str else f"<{type(self).__name__} object>"

    def __str__(self):
        try:
            text = self._gd_ask("str")
        except Exception:  # noqa: BLE001
            return f"<{type(self).__name__} object>"
        return text[:2000] if type(text) is str else f"<{type(self).__name__} object>"

    __eq__ = object.__eq__
    __hash__ = object.__hash__


class CallableProxy(Proxy):
    """A function (or callable object) that stays in the learner's kernel."""

    __slots__ = ()

    def __call__(self, *args, **kwargs):
        return self._gd_session.request("call", ref=self._gd_ref, args=list(args), kwargs=dict(kwargs))


_PROXY_CLASSES: dict = {}


def proxy_class(info: dict):
    """A proxy class named like the learner's type (``type(model).__name__`` reads ``Sequential``)."""
    name = wire.identifier(info.get("name"), "object").rpartition(".")[2]
    module = wire.identifier(info.get("module"), "builtins")
    base = CallableProxy if info.get("callable") is True else Proxy
    key = (name, module, base)
    if key not in _PROXY_CLASSES:
        _PROXY_CLASSES[key] = type(name, (base,), {"__slots__": (), "__module__": module})
    return _PROXY_CLASSES[key]


def resolve_class(info: dict):
    """The checker's own class for the first type in the reported MRO that it has imported, else None."""
    mro = info.get("mro")
    if not isinstance(mro, list):
        return None
    for entry in mro[:16]:
        if not (isinstance(entry, list) and len(entry) == 2):
            continue
        module_name, qualname = (wire.identifier(part, "") for part in entry)
        if not module_name or module_name in ("__main__", "builtins") or module_name not in sys.modules:
            continue
        value = sys.modules[module_name]
        for part in qualname.split("."):
            value = getattr(value, part, None)
        if isinstance(value, type):
            return value
    return None


def trusted_module(info: dict):
    """The checker's own import of a module the learner's name points at (numpy, course...), else None."""
    name = wire.identifier(info.get("module_name"), "")
    if name and name.split(".")[0] in TRUSTED_MODULES:
        try:
            return importlib.import_module(name)
        except Exception:  # noqa: BLE001
            return None
    return None


def reissue_warnings(items) -> None:
    """The learner's warnings, raised again here (a check's ``catch_warnings`` then records them)."""
    if not isinstance(items, list):
        return
    for item in items[:20]:
        if isinstance(item, list) and len(item) == 2:
            category = getattr(builtins, wire.identifier(item[0], "UserWarning"), UserWarning)
            if not (isinstance(category, type) and issubclass(category, Warning)):
                category = UserWarning
            warnings.warn(str(item[1])[:500], category, stacklevel=2)
