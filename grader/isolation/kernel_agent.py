"""The kernel's side of trusted grading: run what the grader asks, answer with plain data.

Hidden tests run in the grader's own process (``grader.isolation.remote``); whenever they need the
student's code (call ``batchnorm_forward`` with these arrays, construct ``FullyConnectedNet``,
read ``model.params``), they send a request over a Unix socket to this agent, which the grader
starts in the student's kernel. The agent answers with **plain data only**: None, bools,
numbers, strings, bytes, lists, tuples, dicts, numeric numpy arrays and PyTorch tensors. Any
other object stays in the kernel and is named by a handle (``{"t": "ref"}``); the grader can
pass it back, call it or read its attributes, never unpickle it. Grader functions handed to the
student's code (a reference batch norm inside spatial batch norm) arrive as stand-ins that call
back into the grader with the same protocol.

This file is both a module of the grader (the codec, ``encode``/``decode``/``send``/``receive``,
is shared) and the source the grader sends to the kernel, where it runs as ``_grader_agent``.
Nothing here is secret and nothing here is trusted: a student may replace it, which only changes
what their own functions appear to return.

Wire format: ``<II`` (header length, number of buffers), a JSON header, then each buffer as
``<Q`` length + bytes (array contents, so arrays are never text-encoded).

Longer than this code base's ~300 lines a module, on purpose: the grader sends this file to the
kernel as one source text (nothing of the repository is importable there), so it cannot be split.
"""

import json
import math
import random
import socket
import struct
import sys

import numpy as np

MAX_HEADER_BYTES = 64 << 20
MAX_MESSAGE_BYTES = 1 << 30
MAX_DEPTH = 32
MAX_ITEMS = 1 << 20  # elements of one list (not array entries)
MAX_DICT_ITEMS = 4096  # keys of one dict: inserting colliding keys costs quadratic time
ARRAY_KINDS = "biufc"  # bool, int, uint, float, complex: no objects, strings or records
MUTABLE = (dict, list, np.ndarray)
PYTHON_TYPES = {t.__name__: t for t in (bool, int, float, complex, str, list, tuple, dict)}


class ProtocolError(Exception):
    """The other side sent something that is not a well-formed message."""


class RemoteError(Exception):
    """The other side's code raised; ``ename``/``evalue`` are its words, not to be trusted."""

    def __init__(self, ename, evalue):
        super().__init__(f"{ename}: {evalue}")
        self.ename, self.evalue = str(ename)[:200], str(evalue)[:2000]


# --- framing -------------------------------------------------------------------------------

def _read_exactly(sock, n):
    chunks, left = [], n
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def send(sock, header, buffers=()):
    """Send one message: a JSON-able ``header`` and raw ``buffers`` (bytes-like)."""
    body = json.dumps(header, allow_nan=True).encode()
    small = [struct.pack("<II", len(body), len(buffers)), body]
    for buf in buffers:  # small pieces go in one write (each write wakes the reader), big ones alone
        small.append(struct.pack("<Q", memoryview(buf).nbytes))
        if memoryview(buf).nbytes <= 1 << 16:
            small.append(bytes(buf))
        else:
            sock.sendall(b"".join(small))
            sock.sendall(buf)
            small = []
    sock.sendall(b"".join(small))


def receive(sock, max_bytes=MAX_MESSAGE_BYTES):
    """One message: (header, [bytes, ...]); ProtocolError when it breaks the size limits (checked
    before anything over them is read)."""
    size, count = struct.unpack("<II", _read_exactly(sock, 8))
    if size > min(MAX_HEADER_BYTES, max_bytes) or count > MAX_ITEMS:
        raise ProtocolError("message header too large")
    try:
        header = json.loads(_read_exactly(sock, size))
    except ValueError:
        raise ProtocolError("message header is not JSON") from None
    buffers, total = [], size
    for _ in range(count):
        (n,) = struct.unpack("<Q", _read_exactly(sock, 8))
        total += n
        if total > max_bytes:
            raise ProtocolError("message too large")
        buffers.append(_read_exactly(sock, n))
    if not isinstance(header, dict):
        raise ProtocolError("message header is not an object")
    return header, buffers


# --- values --------------------------------------------------------------------------------

def _torch():
    return sys.modules.get("torch")


def _array_wire(arr, buffers, tag):
    arr = arr if arr.flags.c_contiguous else arr.copy(order="C")  # (ascontiguousarray makes 0-d arrays 1-d)
    buffers.append(arr.data if arr.size else b"")
    return {"t": tag, "dtype": arr.dtype.str, "shape": list(arr.shape), "b": len(buffers) - 1}


def encode(value, buffers, other, depth=0):
    """Plain data as wire values; anything else through ``other(value) -> wire`` (a handle).

    Args:
        value: what to send.
        buffers: list that array contents are appended to.
        other: called for values that are not plain data.
    """
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply to send")
    if value is None or isinstance(value, (bool, str)) or type(value) in (int, float):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, np.generic):  # int/float subclasses
        return other(value)
    if isinstance(value, (np.generic,)) and value.dtype.kind in ARRAY_KINDS:
        return dict(_array_wire(np.asarray(value), buffers, "nd"), scalar=True)
    if isinstance(value, np.ndarray) and value.dtype.kind in ARRAY_KINDS and value.dtype.fields is None:
        return _array_wire(value, buffers, "nd")
    torch = _torch()
    if torch is not None and isinstance(value, torch.Tensor):
        t = value.detach().cpu()
        if t.dtype == torch.bfloat16:
            t = t.float()
        return _array_wire(t.numpy(), buffers, "tensor")
    if isinstance(value, (bytes, bytearray)):
        buffers.append(bytes(value))
        return {"t": "bytes", "b": len(buffers) - 1}
    if isinstance(value, tuple) or type(value) is list or isinstance(value, (type({}.keys()), type({}.values()),
                                                                            type({}.items()))):
        items = list(value)  # a namedtuple is sent as a plain tuple
        if len(items) > MAX_ITEMS:
            raise ValueError("list too long to send")
        return {"t": "tuple" if isinstance(value, tuple) else "list",
                "v": [encode(v, buffers, other, depth + 1) for v in items]}
    if isinstance(value, dict) and type(value).__module__ in ("builtins", "collections"):
        if len(value) > MAX_DICT_ITEMS:
            raise ValueError("dict too large to send")
        return {"t": "dict", "v": [[encode(k, buffers, other, depth + 1), encode(v, buffers, other, depth + 1)]
                                   for k, v in value.items()]}
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        dtype = np.dtype(value)
        if dtype.kind in ARRAY_KINDS and dtype.fields is None:  # dtype=np.float64 is an argument, not a callback
            return {"t": "dtype", "v": dtype.str, "type": isinstance(value, type)}
    if value in PYTHON_TYPES.values() and isinstance(value, type):
        return {"t": "pytype", "v": value.__name__}
    if isinstance(value, slice):
        bounds = (value.start, value.stop, value.step)
        return {"t": "slice", "v": [encode(x, buffers, other, depth + 1) for x in bounds]}
    if value is Ellipsis:
        return {"t": "ellipsis"}
    return other(value)


def _array_from(wire, buffers):
    try:
        dtype = np.dtype(str(wire["dtype"]))
        shape = tuple(int(n) for n in wire["shape"])
        data = buffers[int(wire["b"])]
    except (KeyError, TypeError, ValueError, IndexError):
        raise ProtocolError("malformed array") from None
    if dtype.kind not in ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None or dtype.hasobject:
        raise ProtocolError(f"array of dtype {dtype} refused")
    if any(n < 0 for n in shape) or math.prod(shape) * dtype.itemsize != len(data):
        raise ProtocolError("array size does not match its shape")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def decode(wire, buffers, named, depth=0):
    """The value a wire value stands for; ``named(wire)`` resolves handles ("ref", "cb")."""
    if depth > MAX_DEPTH:
        raise ProtocolError("value nested too deeply")
    if wire is None or isinstance(wire, (bool, str)) or type(wire) in (int, float):
        return wire
    if not isinstance(wire, dict):
        raise ProtocolError("malformed value")
    tag = wire.get("t")
    if tag == "nd":
        arr = _array_from(wire, buffers)
        return arr[()] if wire.get("scalar") and arr.shape == () else arr
    if tag == "tensor":
        arr = _array_from(wire, buffers)
        torch = _torch()
        if torch is None:
            import torch  # noqa: F811 (the kernel side: only where the student's code uses torch)
        return torch.from_numpy(arr)
    if tag == "bytes":
        try:
            return bytes(buffers[int(wire["b"])])
        except (KeyError, ValueError, IndexError, TypeError):
            raise ProtocolError("malformed bytes") from None
    items = wire.get("v")
    if tag in ("list", "tuple", "slice"):
        if not isinstance(items, list):
            raise ProtocolError("malformed list")
        values = [decode(v, buffers, named, depth + 1) for v in items]
        if tag == "slice":
            if len(values) != 3 or not all(v is None or isinstance(v, int) for v in values):
                raise ProtocolError("malformed slice")
            return slice(*values)
        return tuple(values) if tag == "tuple" else values
    if tag == "dict":
        if not isinstance(items, list) or not all(isinstance(kv, list) and len(kv) == 2 for kv in items):
            raise ProtocolError("malformed dict")
        if len(items) > MAX_DICT_ITEMS:
            raise ProtocolError("dict too large")
        out = {}
        for k, v in items:
            key = decode(k, buffers, named, depth + 1)
            try:
                out[key] = decode(v, buffers, named, depth + 1)
            except TypeError:  # an unhashable key
                raise ProtocolError("malformed dict key") from None
        return out
    if tag == "ellipsis":
        return Ellipsis
    if tag == "dtype":
        try:
            dtype = np.dtype(str(wire["v"]))
        except (KeyError, TypeError, ValueError):
            raise ProtocolError("malformed dtype") from None
        if dtype.kind not in ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None:
            raise ProtocolError(f"dtype {dtype} refused")
        return dtype.type if wire.get("type") else dtype
    if tag == "pytype":
        if wire.get("v") not in PYTHON_TYPES:
            raise ProtocolError("unknown type")
        return PYTHON_TYPES[wire["v"]]
    if tag in ("ref", "cb"):
        return named(wire)
    raise ProtocolError(f"unknown value type {tag!r}")


def sync(original, new, keep=lambda old, new: False):
    """Make ``original`` (a dict, list or array an argument was decoded from) equal ``new`` in
    place, so that a callee's mutations of its arguments reach the caller's objects. Where
    ``keep(old, new)`` the caller's own item stays (the grader keeps its functions, which come
    back as handles to their stand-ins)."""
    if isinstance(original, dict) and isinstance(new, dict):
        for key in [k for k in original if k not in new]:
            del original[key]
        for key, value in new.items():
            if key in original and keep(original[key], value):
                continue
            if key in original and isinstance(original[key], MUTABLE) and type(original[key]) is type(value):
                sync(original[key], value, keep)
            else:
                original[key] = value
    elif isinstance(original, list) and isinstance(new, list):
        original[:] = [old if i < len(original) and keep(old := original[i], v) else v for i, v in enumerate(new)]
    elif isinstance(original, np.ndarray) and isinstance(new, np.ndarray) and original.shape == new.shape:
        if original.flags.writeable:
            np.copyto(original, new, casting="unsafe")


def changed_arguments(args, kwargs):
    """[(position or name, value)] of the dict arguments of a call: sent back, so that what a call
    stores in them (``bn_param``'s running averages) reaches the caller. Arrays and lists are not:
    the grader's own inputs never change under it."""
    return [(key, value) for key, value in [*enumerate(args), *kwargs.items()] if isinstance(value, dict)]


# --- the kernel side -----------------------------------------------------------------------

class Agent:
    """Serves the grader's requests on the kernel's main thread, inside ``serve()``."""

    def __init__(self, sock, namespace):
        self.sock = sock
        self.namespace = namespace
        self.handles, self.ids = {}, {}
        self.next_id = 0
        self.serving = False

    # handles for what is not plain data
    def _handle(self, value):
        key = id(value)
        if key not in self.ids:
            self.handles[len(self.handles)] = value
            self.ids[key] = len(self.handles) - 1
        return {"t": "ref", "id": self.ids[key]}

    def _named(self, wire):
        if wire["t"] == "ref":
            try:
                return self.handles[int(wire["id"])]
            except (KeyError, ValueError, TypeError):
                raise ProtocolError("unknown handle") from None
        return self._stand_in(int(wire["id"]))

    def _stand_in(self, callback_id):
        agent = self

        def grader_function(*args, **kwargs):
            return agent.call_back(callback_id, args, kwargs)

        grader_function.__name__ = grader_function.__qualname__ = f"grader_function_{callback_id}"
        return grader_function

    def _encode(self, value, by_reference=False):
        buffers = []
        if by_reference and isinstance(value, MUTABLE + ((_torch().Tensor,) if _torch() else ())):
            return self._handle(value), buffers
        return encode(value, buffers, self._handle), buffers

    def _arguments(self, header, buffers):
        args = decode(header.get("args", {"t": "list", "v": []}), buffers, self._named)
        kwargs = decode(header.get("kwargs", {"t": "dict", "v": []}), buffers, self._named)
        if not isinstance(args, list) or not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
            raise ProtocolError("malformed arguments")
        return args, kwargs

    # the grader calling in
    def _run(self, header, buffers):
        op = header.get("op")
        target = self._named(header["target"]) if "target" in header else None
        if op == "namespace":
            return self.namespace, True, None
        if op == "lookup":
            name = header["name"]
            if name not in self.namespace:
                raise NameError(f"name {name!r} is not defined in your notebook")
            return self.namespace[name], True, None
        if op == "module":
            import importlib
            return importlib.import_module(header["name"]), True, None
        if op == "builtin":
            import builtins
            return getattr(builtins, header["name"]), True, None
        if op == "getattr":
            return getattr(target, header["name"]), True, None
        if op == "setattr":
            setattr(target, header["name"], decode(header["value"], buffers, self._named))
            return None, False, None
        if op == "getitem":
            return target[decode(header["key"], buffers, self._named)], True, None
        if op == "setitem":
            target[decode(header["key"], buffers, self._named)] = decode(header["value"], buffers, self._named)
            return None, False, None
        if op == "call":
            args, kwargs = self._arguments(header, buffers)
            result = target(*args, **kwargs)
            return result, False, changed_arguments(args, kwargs)
        if op == "value":
            if hasattr(target, "__next__"):  # an iterator or generator: its items (bounded)
                import itertools
                return list(itertools.islice(target, MAX_ITEMS)), False, None
            return target, False, None
        if op == "seed":
            seed = int(header["seed"])
            random.seed(seed)
            np.random.seed(seed)
            if _torch() is not None:
                _torch().manual_seed(seed)
            return None, False, None
        raise ProtocolError(f"unknown request {op!r}")

    def _reply(self, request_id, result, by_reference, mutated, strict):
        value, buffers = self._encode(result, by_reference)
        if strict and isinstance(value, dict) and value.get("t") == "ref":
            raise TypeError(f"expected plain data (numbers, arrays, lists, dicts), got a {type(result).__name__}")
        reply = {"id": request_id, "ok": True, "value": value}
        if mutated:
            reply["mutated"] = [[key, encode(v, buffers, self._handle)] for key, v in mutated]
        send(self.sock, reply, buffers)

    def _answer(self, header, buffers):
        request_id = header.get("id")
        try:
            result, by_reference, mutated = self._run(header, buffers)
            self._reply(request_id, result, by_reference, mutated, strict=header.get("op") == "value")
        except (EOFError, ConnectionError, ProtocolError):
            raise
        except BaseException as exc:  # the student's code failed (or was interrupted): say so
            send(self.sock, {"id": request_id, "ok": False,
                             "error": [type(exc).__name__, str(exc)[:2000]]})

    def _wait(self, request_id):
        """Serve requests until the reply to ``request_id`` (or the end of serving) arrives."""
        while True:
            header, buffers = receive(self.sock)
            if header.get("op") == "end":
                return None
            if "op" in header:
                self._answer(header, buffers)
            elif header.get("id") == request_id:
                return header, buffers

    def serve(self):
        """Answer the grader until it says "end" (called by the grader through the kernel)."""
        self.serving = True
        try:
            self._wait(None)
        finally:
            self.serving = False
        return "done"

    # the student's code calling a grader function
    def call_back(self, callback_id, args, kwargs):
        if not self.serving:
            raise RuntimeError("a grader function was called outside the grader's tests")
        self.next_id += 1
        request_id = f"k{self.next_id}"
        buffers = []
        header = {"id": request_id, "op": "callback", "cb": callback_id,
                  "args": encode(list(args), buffers, self._handle),
                  "kwargs": encode(dict(kwargs), buffers, self._handle)}
        send(self.sock, header, buffers)
        answer = self._wait(request_id)
        if answer is None:
            raise RuntimeError("the grader ended while a grader function was running")
        reply, buffers = answer
        if not reply.get("ok"):
            raise RemoteError(*reply.get("error", ["Error", ""]))
        for key, wire in reply.get("mutated", []):
            original = args[key] if isinstance(key, int) and key < len(args) else kwargs.get(key)
            sync(original, decode(wire, buffers, self._named))
        return decode(reply.get("value"), buffers, self._named)


def connect(path, token, namespace):
    """Connect to the grader's socket at ``path``, serving ``namespace`` (the notebook's globals);
    the agent is then ``_grader_agent.agent``."""
    global agent
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    send(sock, {"hello": token})
    agent = Agent(sock, namespace)
    return "connected"


def serve():
    return agent.serve()


agent = None
