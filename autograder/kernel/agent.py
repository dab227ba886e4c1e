"""Inside the student's kernel: answers the grader's checker over a unix socket, with data only.

The test cells never run in the student's kernel (see :mod:`autograder.checker`).
The checker, a separate process, runs them and asks this agent about the
learner's names: the value of ``w``, a call of ``fit(x, y, ...)`` with data
arguments, an attribute of a model.  The agent answers with plain data
(:mod:`.wire`) or, for anything that is not data, a reference number: the
object itself stays here.  It gets no code to run, and nothing of the
checker's but data.

This module runs in the student's process, so the student's code can change
it: the grader trusts nothing it sends (every frame is checked, every call has
a time limit).  It listens on ``<connection file without .json>.agent`` beside the
kernel's own sockets (the folder the sandbox shares with the grader).
Started by the hidden cell :data:`autograder.preprocessors.guard_cells.AGENT_SOURCE`.
"""

from __future__ import annotations

import ctypes
import io
import linecache
import os
import socket
import sys
import threading
import traceback
import warnings

from . import wire

_OUTPUT_LIMIT = 20_000  # characters of the learner's printing sent back per request
_ITER_LIMIT = 100_000
_HERE = os.path.abspath(__file__)
_STATE: dict = {}


def socket_path(connection_file: str) -> str:
    """Where the agent of the kernel with ``connection_file`` listens (the grader computes the same)."""
    stem, _ = os.path.splitext(os.path.abspath(connection_file))
    return stem + ".agent"


def short_address(path: str):
    """``(address, fd)``: ``path`` itself, or ``/proc/self/fd/N/<name>`` where ``path`` is longer than a
    unix socket's address holds (107 bytes); the caller closes ``fd`` (``None`` when unused) after
    ``bind`` or ``connect``."""
    if len(path.encode()) <= 100:
        return path, None
    folder, name = os.path.split(path)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    return f"/proc/self/fd/{fd}/{name}", fd


class _Capture(io.TextIOBase):
    def __init__(self, name: str, sink: list):
        self.name, self._sink = name, sink

    def write(self, text):
        text = str(text)
        used = sum(len(t) for _, t in self._sink)
        if used < _OUTPUT_LIMIT:
            self._sink.append((self.name, text[:_OUTPUT_LIMIT - used]))
        return len(text)

    def writable(self):
        return True


class _Refs:
    def __init__(self):
        self.objects: dict[int, object] = {}

    def add(self, value) -> int:
        ref = len(self.objects) + 1
        self.objects[ref] = value
        return ref

    def get(self, ref):
        if type(ref) is not int or ref not in self.objects:
            raise LookupError(f"no object {ref!r} in this kernel")
        return self.objects[ref]


def _type_info(value) -> dict:
    cls = type(value)
    mro = [[getattr(c, "__module__", "") or "", getattr(c, "__qualname__", c.__name__)] for c in cls.__mro__[:16]]
    info = {"name": cls.__name__, "module": getattr(cls, "__module__", "") or "", "mro": mro,
            "callable": callable(value)}
    if isinstance(value, type(sys)):
        info["module_name"] = getattr(value, "__name__", "")
    return info


def _tensor_node(value, enc: wire.Encoder, depth: int):
    module = type(value).__module__ or ""
    if module.startswith("torch") and callable(getattr(value, "detach", None)):
        data = value.detach().cpu()
        if data.is_floating_point() and str(data.dtype) in ("torch.bfloat16", "torch.float16"):
            data = data.float()
        grad = getattr(value, "grad", None)
        return {"X": {"fw": "torch", "kind": type(value).__name__, "array": enc.array(data.numpy()),
                      "dtype": str(value.dtype), "device": str(value.device),
                      "requires_grad": bool(value.requires_grad), "variable": False,
                      "grad": None if grad is None else _tensor_node(grad, enc, depth + 1)}}
    array = value.numpy()
    return {"X": {"fw": "tf", "kind": type(value).__name__, "module": module, "array": enc.array(array),
                  "dtype": str(getattr(value, "dtype", array.dtype)), "device": str(getattr(value, "device", "")),
                  "requires_grad": False, "variable": hasattr(value, "assign"), "grad": None}}


def _is_tensor(value) -> bool:
    module = type(value).__module__ or ""
    if module.startswith("torch"):
        return "torch" in sys.modules and isinstance(value, sys.modules["torch"].Tensor)
    if module.startswith(("tensorflow", "keras")):
        return callable(getattr(value, "numpy", None)) and hasattr(value, "shape") and hasattr(value, "dtype")
    return False


class _Agent:
    def __init__(self, namespace: dict):
        self.namespace = namespace
        self.refs = _Refs()

    # -- values out ---------------------------------------------------------------------------
    def _other(self, value, enc: wire.Encoder, depth: int):
        try:
            if _is_tensor(value):
                return _tensor_node(value, enc, depth)
        except wire.WireError:
            raise
        except Exception:
            pass
        cls = type(value)
        name = f"{cls.__module__}.{cls.__qualname__}"
        if name in wire.RECORDS:
            fields = {f: enc.encode(getattr(value, f), depth + 1) for f in value.__dataclass_fields__}
            return {"F": [name, fields]}
        return {"R": [self.refs.add(value), _type_info(value)]}

    def encode(self, value):
        encoder = wire.Encoder(self._other)
        return encoder.encode(value), encoder.blobs

    # -- values in ----------------------------------------------------------------------------
    def _tensor_in(self, body, dec: wire.Decoder, depth: int):
        array = dec.decode(body.get("array"), depth + 1)
        if body.get("fw") == "torch":
            import torch

            tensor = torch.tensor(array)
            return tensor.requires_grad_(True) if body.get("requires_grad") is True else tensor
        if body.get("fw") == "tf":
            import tensorflow as tf

            return tf.Variable(array) if body.get("variable") is True else tf.constant(array)
        raise wire.WireError("a tensor of an unknown framework")

    def _record_in(self, name, fields):
        module_name, _, class_name = name.rpartition(".")
        import importlib

        return getattr(importlib.import_module(module_name), class_name)(**fields)

    def decode(self, node, blobs):
        dec = wire.Decoder(blobs, tensor=self._tensor_in, record=self._record_in,
                           ref=lambda ref, _info: self.refs.get(ref))
        return dec.decode(node)

    # -- requests -----------------------------------------------------------------------------
    def answer(self, header: dict, blobs: list):
        op = header.get("op")
        if op == "names":
            found, missing = {}, []
            for name in header.get("names", []):
                if isinstance(name, str) and name in self.namespace:
                    found[name] = self.namespace[name]
                else:
                    missing.append(name)
            return {"found": found, "missing": missing}
        if op == "end":
            self.refs = _Refs()
            return None
        target = self.refs.get(header.get("ref"))
        if op == "getattr":
            return getattr(target, str(header.get("name")))
        if op == "call":
            args = self.decode(header.get("args", []), blobs)
            kwargs = self.decode(header.get("kwargs", {"D": []}), blobs)
            return target(*args, **{str(k): v for k, v in kwargs.items()})
        if op == "getitem":
            return target[self.decode(header.get("key"), blobs)]
        if op == "iter":
            items = []
            for item in target:
                items.append(item)
                if len(items) > _ITER_LIMIT:
                    raise ValueError(f"more than {_ITER_LIMIT} items")
            return items
        simple = {"float": float, "int": int, "index": lambda v: v.__index__(), "bool": bool, "len": len,
                  "repr": repr, "str": str}
        if op in simple:
            return simple[op](target)
        if op == "array":
            import numpy

            return numpy.asarray(target)
        raise ValueError(f"unknown request {str(op)[:20]!r}")

    def handle(self, header: dict, blobs: list) -> bytes:
        out: list = []
        saved = sys.stdout, sys.stderr
        timer = _deadline_timer(header.get("timeout"))
        try:
            sys.stdout, sys.stderr = _Capture("stdout", out), _Capture("stderr", out)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    value = self.answer(header, blobs)
                    reply, reply_blobs = {"v": None}, []
                    reply["v"], reply_blobs = self.encode(value)
                except BaseException as error:  # noqa: BLE001 (the learner's code may raise anything)
                    reply, reply_blobs = {"error": _error_info(error)}, []
                finally:
                    timer.cancel()
        finally:
            sys.stdout, sys.stderr = saved
        reply["id"] = header.get("id")
        reply["out"] = out
        reply["warnings"] = [[w.category.__name__, str(w.message)[:500]] for w in caught[:20]]
        try:
            return wire.pack(reply, reply_blobs)
        except wire.WireError as error:
            return wire.pack({"id": header.get("id"), "error": _error_info(error), "out": out}, [])


def _deadline_timer(seconds):
    """Raise ``TimeoutError`` in the answering thread after ``seconds`` (Python code only)."""
    thread_id = threading.get_ident()

    def expire():
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(TimeoutError))

    limit = float(seconds) if isinstance(seconds, (int, float)) and seconds > 0 else 3600.0
    timer = threading.Timer(limit, expire)
    timer.daemon = True
    timer.start()
    return timer


def _frames(error) -> list:
    """The learner's own frames of ``error`` (not this module's), as IPython names cells."""
    try:
        shell = get_ipython()  # noqa: F821
        names = getattr(getattr(shell, "compile", None), "_filename_map", {})
    except NameError:
        names = {}
    lines = []
    for frame in traceback.extract_tb(error.__traceback__):
        if os.path.abspath(frame.filename) == _HERE:
            continue
        number = names.get(frame.filename)
        where = f"Cell In[{number}]" if number is not None else (
            "your cell" if frame.filename.startswith("<") or "ipykernel_" in frame.filename
            else os.path.basename(frame.filename))
        lines.append(f"  {where}, line {frame.lineno}, in {frame.name}")
        source = (frame.line or linecache.getline(frame.filename, frame.lineno) or "").strip()
        if source:
            lines.append(f"    {source[:200]}")
    return lines[-40:]


def _error_info(error) -> dict:
    bases = [c.__name__ for c in type(error).__mro__ if c.__module__ == "builtins"]
    try:
        message = str(error)[:2000]
    except Exception:  # noqa: BLE001
        message = ""
    return {"type": type(error).__name__, "bases": bases[:10], "message": message, "frames": _frames(error)}


def _serve(listener: socket.socket, agent: _Agent) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            reader = conn.makefile("rb")

            def read_exact(n, reader=reader):
                data = reader.read(n)
                if data is None or len(data) != n:
                    raise EOFError
                return data

            while True:
                try:
                    header, blobs, _ = wire.read_frame(read_exact)
                except (EOFError, OSError, wire.WireError):
                    break
                try:
                    conn.sendall(agent.handle(header, blobs))
                except OSError:
                    break


def start(connection_file: str | None = None) -> str:
    """Listen for the checker (once per kernel); returns the socket's path."""
    if "path" in _STATE:
        return _STATE["path"]
    if connection_file is None:
        from ipykernel.connect import get_connection_file

        connection_file = get_connection_file()
    path = socket_path(connection_file)
    try:
        namespace = get_ipython().user_ns  # noqa: F821
    except NameError:
        import __main__

        namespace = vars(__main__)
    if os.path.exists(path):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    address, fd = short_address(path)
    try:
        listener.bind(address)
    finally:
        if fd is not None:
            os.close(fd)
    os.chmod(path, 0o600)
    listener.listen(1)
    thread = threading.Thread(target=_serve, args=(listener, _Agent(namespace)), name="gd-agent", daemon=True)
    thread.start()
    _STATE.update(path=path, listener=listener, thread=thread)
    return path
