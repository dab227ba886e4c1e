"""The data-only wire between the grader's checker and the agent in a student's kernel.

A frame is ``b"GDW1"``, two big-endian 32-bit lengths (header, body), a JSON
header and a body of raw blobs (the bytes of NumPy arrays).  Values in the
header are JSON scalars, JSON arrays (Python lists) and one-key objects:

``{"T": [...]}`` a tuple, ``{"S": [...]}`` a set, ``{"Z": [...]}`` a frozenset,
``{"D": [[key, value], ...]}`` a dict,
``{"A": [dtype, shape, blob]}`` an array, ``{"N": [dtype, blob]}`` a NumPy
scalar, ``{"C": [re, im]}`` a complex, ``{"B": blob}`` bytes,
``{"X": {...}}`` a tensor (its array with dtype, device, requires_grad),
``{"F": [class, {field: value}]}`` a record of an allow-listed class,
``{"R": [ref, info]}`` a reference to an object that stays in the kernel.

Nothing is pickled, and nothing but these nodes is ever built from a frame:
both sides decode with :func:`decode`, which checks depth, counts, dtypes,
shapes against blob sizes and blob indices.  This module is imported inside
the student's kernel (by :mod:`.agent`) and by the checker; it needs only the
standard library and NumPy.
"""

from __future__ import annotations

import json
import math
import re
import struct

import numpy as np

MAGIC = b"GDW1"
_LENGTHS = struct.Struct(">II")
PREFIX_SIZE = len(MAGIC) + _LENGTHS.size

#: Limits every decoder applies (a frame beyond them is refused, never half-read).
MAX_HEADER = 4 * 1024 * 1024
MAX_BODY = 64 * 1024 * 1024
MAX_DEPTH = 40
MAX_NODES = 200_000
MAX_NDIM = 16
MAX_BLOBS = 10_000

#: The records both sides rebuild from their own copy of the class (fields only).
RECORDS = {"course.reference.result.FitResult"}

_DTYPE = re.compile(r"^[<>|=]?(b1|[iu][1248]|f[248]|c(8|16))$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,199}$")


class WireError(ValueError):
    """A frame or value that breaks the protocol (size, depth, types, blobs)."""


# ---------------------------------------------------------------------------------------------
# Frames.


def pack(header: dict, blobs: list[bytes]) -> bytes:
    """One frame: ``header`` (with the blob lengths added) and the blobs after it."""
    header = dict(header, blobs=[len(b) for b in blobs])
    head = json.dumps(header, separators=(",", ":"), allow_nan=True).encode()
    body = b"".join(blobs)
    if len(head) > MAX_HEADER or len(body) > MAX_BODY:
        raise WireError(f"the message is too large ({len(head)} + {len(body)} bytes)")
    return MAGIC + _LENGTHS.pack(len(head), len(body)) + head + body


def parse_prefix(prefix: bytes, max_header: int = MAX_HEADER, max_body: int = MAX_BODY) -> tuple[int, int]:
    if len(prefix) != PREFIX_SIZE or prefix[:4] != MAGIC:
        raise WireError("not a frame of this protocol")
    head, body = _LENGTHS.unpack(prefix[4:])
    if head > max_header or body > max_body:
        raise WireError(f"a frame of {head} + {body} bytes is over the limit ({max_header} + {max_body})")
    return head, body


def _json_constant(name):
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[name]


def parse_frame(head: bytes, body: bytes) -> tuple[dict, list[bytes]]:
    """The header (a dict) and the list of blobs of one frame."""
    try:
        header = json.loads(head.decode("utf-8"), parse_constant=_json_constant)
    except (ValueError, RecursionError, UnicodeDecodeError) as error:
        raise WireError(f"the header is not valid JSON ({type(error).__name__})") from None
    if not isinstance(header, dict):
        raise WireError("the header is not an object")
    lengths = header.get("blobs", [])
    if (not isinstance(lengths, list) or len(lengths) > MAX_BLOBS
            or not all(type(n) is int and n >= 0 for n in lengths) or sum(lengths) != len(body)):
        raise WireError("the blob lengths do not match the body")
    blobs, start = [], 0
    for n in lengths:
        blobs.append(body[start:start + n])
        start += n
    return header, blobs


def read_frame(read_exact, max_header: int = MAX_HEADER, max_body: int = MAX_BODY):
    """Read one frame with ``read_exact(n) -> bytes``; returns ``(header, blobs, raw)``."""
    prefix = read_exact(PREFIX_SIZE)
    head_len, body_len = parse_prefix(prefix, max_header, max_body)
    head = read_exact(head_len)
    body = read_exact(body_len)
    header, blobs = parse_frame(head, body)
    return header, blobs, prefix + head + body


# ---------------------------------------------------------------------------------------------
# Values.


class Encoder:
    """Turns a value into header nodes and blobs; ``other(value, encoder)`` handles the rest."""

    def __init__(self, other=None, max_nodes: int = MAX_NODES, max_bytes: int = MAX_BODY):
        self.blobs: list[bytes] = []
        self._other = other
        self._nodes = 0
        self._max_nodes, self._max_bytes, self._bytes = max_nodes, max_bytes, 0

    def blob(self, data: bytes) -> int:
        self._bytes += len(data)
        if self._bytes > self._max_bytes:
            raise WireError(f"the value is too large to send (over {self._max_bytes} bytes)")
        self.blobs.append(data)
        return len(self.blobs) - 1

    def array(self, array) -> dict:
        array = np.asarray(array)
        if array.dtype.byteorder == ">" or not _DTYPE.match(array.dtype.str):
            raise WireError(f"arrays of dtype {array.dtype} cannot be sent")
        if array.ndim > MAX_NDIM:
            raise WireError(f"arrays of {array.ndim} dimensions cannot be sent")
        return {"A": [array.dtype.str, list(array.shape), self.blob(np.ascontiguousarray(array).tobytes())]}

    def encode(self, value, depth: int = 0):
        self._nodes += 1
        if self._nodes > self._max_nodes:
            raise WireError(f"the value holds more than {self._max_nodes} items")
        if depth > MAX_DEPTH:
            raise WireError(f"the value is nested more than {MAX_DEPTH} levels deep")
        kind = type(value)
        if value is None or kind in (bool, str):
            return value
        if kind is int:
            if value.bit_length() > 4000:
                raise WireError("an integer too large to send")
            return value
        if kind is float:
            return value
        if kind is complex:
            return {"C": [value.real, value.imag]}
        if kind is bytes:
            return {"B": self.blob(value)}
        if kind is list:
            return [self.encode(item, depth + 1) for item in value]
        if kind is tuple:
            return {"T": [self.encode(item, depth + 1) for item in value]}
        if kind in (set, frozenset):
            return {"S" if kind is set else "Z": [self.encode(item, depth + 1) for item in value]}
        if kind is dict:
            return {"D": [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in value.items()]}
        if kind is np.ndarray and _DTYPE.match(value.dtype.str) and value.ndim <= MAX_NDIM:
            return self.array(value)
        if isinstance(value, np.generic) and _DTYPE.match(value.dtype.str):
            return {"N": [value.dtype.str, self.blob(value.tobytes())]}
        if self._other is not None:
            return self._other(value, self, depth)
        raise WireError(f"a {kind.__name__} cannot be sent")


def encode(value, other=None) -> tuple[object, list[bytes]]:
    encoder = Encoder(other)
    return encoder.encode(value), encoder.blobs


class Decoder:
    """Builds values from header nodes; ``tensor``, ``record`` and ``ref`` build the special nodes."""

    def __init__(self, blobs: list[bytes], *, tensor=None, record=None, ref=None):
        self.blobs = blobs
        self._used: set[int] = set()
        self._nodes = 0
        self._tensor, self._record, self._ref = tensor, record, ref

    def _blob(self, index) -> bytes:
        if type(index) is not int or not 0 <= index < len(self.blobs) or index in self._used:
            raise WireError("a value names a blob that is not there (or names it twice)")
        self._used.add(index)
        return self.blobs[index]

    def array(self, node) -> np.ndarray:
        if not (isinstance(node, list) and len(node) == 3):
            raise WireError("a malformed array")
        dtype, shape, index = node
        if not (isinstance(dtype, str) and _DTYPE.match(dtype)):
            raise WireError(f"an array of dtype {str(dtype)[:20]!r} is not accepted")
        if (not isinstance(shape, list) or len(shape) > MAX_NDIM
                or not all(type(d) is int and 0 <= d <= 1 << 40 for d in shape)):
            raise WireError("an array with an impossible shape")
        data = self._blob(index)
        dt = np.dtype(dtype)
        count = math.prod(shape)
        if count * dt.itemsize != len(data):
            raise WireError(f"an array of shape {tuple(shape)} and dtype {dtype} cannot be {len(data)} bytes")
        return np.frombuffer(data, dtype=dt).reshape(shape).astype(dt.newbyteorder("="), copy=True)

    def decode(self, node, depth: int = 0):
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise WireError(f"the value holds more than {MAX_NODES} items")
        if depth > MAX_DEPTH:
            raise WireError(f"the value is nested more than {MAX_DEPTH} levels deep")
        kind = type(node)
        if node is None or kind in (bool, int, float, str):
            return node
        if kind is list:
            return [self.decode(item, depth + 1) for item in node]
        if kind is not dict or len(node) != 1:
            raise WireError("a malformed value")
        (tag, body), = node.items()
        if tag == "T" and type(body) is list:
            return tuple(self.decode(item, depth + 1) for item in body)
        if tag in ("S", "Z") and type(body) is list:
            try:
                items = (set if tag == "S" else frozenset)(self.decode(item, depth + 1) for item in body)
            except TypeError:
                raise WireError("a set of items that cannot be in a set") from None
            return items
        if tag == "D" and type(body) is list:
            out = {}
            for pair in body:
                if type(pair) is not list or len(pair) != 2:
                    raise WireError("a malformed dict")
                key = self.decode(pair[0], depth + 1)
                try:
                    out[key] = self.decode(pair[1], depth + 1)
                except TypeError:
                    raise WireError("a dict key that cannot be a key") from None
            return out
        if tag == "A":
            return self.array(body)
        if tag == "N" and type(body) is list and len(body) == 2:
            return self.array([body[0], [], body[1]])[()]
        if tag == "C" and type(body) is list and len(body) == 2 and all(type(v) in (int, float) for v in body):
            return complex(body[0], body[1])
        if tag == "B":
            return bytes(self._blob(body))
        if tag == "X" and self._tensor is not None and type(body) is dict:
            return self._tensor(body, self, depth)
        if tag == "F" and self._record is not None and type(body) is list and len(body) == 2:
            name, fields = body
            if name not in RECORDS or type(fields) is not dict:
                raise WireError(f"a record of {str(name)[:60]!r} is not accepted")
            return self._record(name, {str(k): self.decode(v, depth + 1) for k, v in fields.items()})
        if tag == "R" and self._ref is not None and type(body) is list and len(body) == 2:
            ref, info = body
            if type(ref) is not int or type(info) is not dict:
                raise WireError("a malformed reference")
            return self._ref(ref, info)
        raise WireError(f"a value tagged {str(tag)[:10]!r} is not accepted here")


def identifier(text, default: str = "object") -> str:
    """``text`` if it is a plain (dotted) Python name, else ``default``: names from the kernel are checked."""
    return text if isinstance(text, str) and _IDENT.match(text) else default
