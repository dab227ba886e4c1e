"""In the checker: one student's kernel as the test code sees it, through requests and checked answers.

:class:`Session` sends a request (an operation, a reference number, data
arguments) through ``transport`` (the grader relays it to the kernel's
agent) and turns the answer into data, proxies, tensors or the learner's
exception.  What the learner's code printed while answering is kept for the
cell's output; what it warned is warned again here.
"""

from __future__ import annotations

import numpy as np

from autograder.kernel import wire

from . import proxy as _proxy


def _checker_tensor(value, enc: wire.Encoder, depth: int):
    """The checker's own tensors (the checks' inputs) as data: the kernel makes its own from them."""
    module = type(value).__module__ or ""
    if isinstance(value, _proxy._TensorValue):
        return {"X": dict(value._gd_body, array=enc.array(value.numpy()), grad=None)}
    if module.startswith("torch") and callable(getattr(value, "detach", None)):
        return {"X": {"fw": "torch", "array": enc.array(value.detach().cpu().numpy()),
                      "requires_grad": bool(value.requires_grad)}}
    if module.startswith(("tensorflow", "keras")) and callable(getattr(value, "numpy", None)):
        return {"X": {"fw": "tf", "array": enc.array(np.asarray(value.numpy())),
                      "variable": hasattr(value, "assign")}}
    return None


class Session:
    """The learner's kernel, as the checker may ask it things."""

    def __init__(self, transport, call_timeout: float = 120.0):
        self._transport = transport
        self._next_id = 0
        self.call_timeout = call_timeout
        self.printed: list[tuple[str, str]] = []  # what the learner's code printed, in order
        self._classes: dict = {}

    # -- encoding -------------------------------------------------------------------------------
    def _other(self, value, enc: wire.Encoder, depth: int):
        if isinstance(value, _proxy.Proxy):
            if object.__getattribute__(value, "_gd_session") is not self:
                raise wire.WireError("an object of another kernel")
            return {"R": [object.__getattribute__(value, "_gd_ref"), {}]}
        node = _checker_tensor(value, enc, depth)
        if node is not None:
            return node
        cls = type(value)
        name = f"{cls.__module__}.{cls.__qualname__}"
        if name in wire.RECORDS:
            return {"F": [name, {f: enc.encode(getattr(value, f), depth + 1) for f in value.__dataclass_fields__}]}
        raise TypeError(f"the grader cannot send a {cls.__name__} to the learner's kernel (only data)")

    # -- decoding -------------------------------------------------------------------------------
    def _tensor(self, body, dec: wire.Decoder, depth: int):
        array = dec.decode(body.get("array"), depth + 1)
        if type(array) is not np.ndarray:
            raise wire.WireError("a tensor without an array")
        fw = "torch" if body.get("fw") == "torch" else "tf"
        kind = wire.identifier(body.get("kind"), "Tensor").rpartition(".")[2]
        module = "torch" if fw == "torch" else wire.identifier(body.get("module"), "tensorflow")
        grad = body.get("grad")
        grad_value = None if grad is None else dec.decode(grad, depth + 1)
        if grad_value is not None and not isinstance(grad_value, _proxy._TensorValue):
            raise wire.WireError("a tensor's grad that is not a tensor")
        clean = {"fw": fw, "kind": kind, "module": module, "dtype": str(body.get("dtype", ""))[:40],
                 "device": str(body.get("device", ""))[:40], "requires_grad": body.get("requires_grad") is True,
                 "variable": body.get("variable") is True}
        return _proxy._tensor_class(fw, kind, module)(array, clean, grad_value)

    def _record(self, name, fields):
        module_name, _, class_name = name.rpartition(".")
        import importlib

        cls = getattr(importlib.import_module(module_name), class_name)
        try:
            return cls(**fields)
        except TypeError:
            raise wire.WireError(f"a {class_name} with the wrong fields") from None

    def _ref(self, ref, info):
        module = _proxy.trusted_module(info)
        if module is not None:
            return module
        return _proxy.proxy_class(info)(ref, self, info)

    def local_class(self, info):
        # Keyed by what the kernel reported, never by id(info): an info dict that was freed gives its
        # id to the next one, and a Sequential then resolved as the class of whatever came before.
        mro = info.get("mro")
        key = repr(mro[:16]) if isinstance(mro, list) else None
        if key not in self._classes:
            self._classes[key] = _proxy.resolve_class(info)
        return self._classes[key]

    # -- requests -------------------------------------------------------------------------------
    def request(self, op: str, **fields):
        self._next_id += 1
        request_id = self._next_id
        header = {"id": request_id, "op": op, "timeout": self.call_timeout}
        blobs: list[bytes] = []
        if fields:
            encoder = wire.Encoder(self._other)
            for key, value in fields.items():
                header[key] = value if key in ("ref", "name") else encoder.encode(value)
            blobs = encoder.blobs
        reply, reply_blobs = self._transport(header, blobs)
        if not isinstance(reply, dict) or reply.get("id") != request_id:
            raise _proxy.ChannelError("the kernel's answer belongs to another question")
        if "gone" in reply:
            raise _proxy.ChannelError(str(reply.get("gone"))[:300])
        out = reply.get("out")
        if isinstance(out, list):
            for item in out[:1000]:
                if isinstance(item, list) and len(item) == 2 and isinstance(item[1], str):
                    self.printed.append(("stderr" if item[0] == "stderr" else "stdout", item[1][:20_000]))
        _proxy.reissue_warnings(reply.get("warnings"))
        if "error" in reply:
            raise _proxy.learner_error(reply["error"])
        decoder = wire.Decoder(reply_blobs, tensor=self._tensor, record=self._record, ref=self._ref)
        try:
            return decoder.decode(reply.get("v"))
        except RecursionError:
            raise wire.WireError("the answer is nested too deeply") from None

    def names(self, names: list[str]) -> tuple[dict, list]:
        """The learner's values (or proxies) for ``names``, and the names their kernel does not hold."""
        if not names:
            return {}, []
        answer = self.request("names", names=list(names))
        if type(answer) is not dict or type(answer.get("found")) is not dict:
            raise _proxy.ChannelError("the kernel's answer about its names could not be read")
        found = {k: v for k, v in answer["found"].items() if isinstance(k, str) and k in names}
        return found, [n for n in names if n not in found]
