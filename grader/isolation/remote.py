"""The grader's side of trusted grading: reach the student's code in the kernel as plain data.

``KernelLink`` listens on a Unix socket in a folder the grader made; the agent that the grader
starts in the kernel (``grader.isolation.kernel_agent``) connects to it once, before any student code runs.
Hidden tests then run in this (trusted) process and see the student's functions and objects as
``RemoteRef`` proxies: calling one, reading or setting an attribute or item, or asking for its
value sends a request and decodes the answer (plain data, or another proxy). The student's code
can answer anything, but only with data, which the tests check here; it never gets this
process's objects, only stand-ins for grader functions it is handed (they call back here).
"""

import itertools
import os
import secrets
import socket
import tempfile
import time

from grader.isolation.kernel_agent import ProtocolError, RemoteError, changed_arguments, decode, encode, send
from grader.isolation.kernel_agent import receive as _receive
from grader.isolation.remote_ref import RemoteRef

MAX_REPLY_BYTES = 256 << 20  # what one answer of the kernel may weigh (arrays included)
CONNECT_TIMEOUT_S = 30


class TimeLimit(BaseException):
    """The student's code did not answer before the cell's deadline. A BaseException, like
    KeyboardInterrupt, so that a hidden test's ``except Exception`` cannot swallow it."""


class LostContact(BaseException):
    """The connection to the kernel's agent closed or broke the protocol (the kernel died, or
    the student's code closed it). A BaseException for the same reason as TimeLimit."""


class KernelLink:
    """One kernel's grading connection (see module doc).

    Args:
        folder: where to make the socket's own folder (the kernel must be able to reach it:
            the runtime folder that holds its connection file).
    """

    def __init__(self, folder=None):
        self.folder = tempfile.mkdtemp(prefix="agent", dir=folder)
        os.chmod(self.folder, 0o711)  # made here, by the grader: the kernel may enter, not write
        self.path = os.path.join(self.folder, "s")
        self.token = secrets.token_hex(16)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0)  # the kernel runs as another uid and must be able to connect
        try:
            self._listener.bind(self.path)
        finally:
            os.umask(old)
        self._listener.listen(1)
        self.sock = None
        self.deadline = None
        self._ids = itertools.count(1)
        self._callbacks, self._callback_ids = {}, {}
        self._pending = None

    def accept(self, timeout=CONNECT_TIMEOUT_S):
        """Take the agent's connection (it connected during its bootstrap); False if it did not."""
        self._listener.settimeout(timeout)
        try:
            sock, _ = self._listener.accept()
            sock.settimeout(timeout)
            hello, _ = _receive(sock)
        except (OSError, EOFError, ProtocolError, ValueError):
            return False
        finally:
            self._listener.close()
            os.unlink(self.path)
            os.rmdir(self.folder)
        if not secrets.compare_digest(str(hello.get("hello", "")), self.token):
            sock.close()
            return False
        self.sock = sock
        return True

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    # --- messages ------------------------------------------------------------------------
    def _receive(self):
        if self.sock is None:
            raise LostContact("no connection to the kernel")
        left = None if self.deadline is None else self.deadline - time.monotonic()
        if left is not None and left <= 0:
            raise TimeLimit()
        self.sock.settimeout(left)
        try:
            return _receive(self.sock, MAX_REPLY_BYTES)
        except TimeoutError:
            raise TimeLimit() from None
        except Exception as exc:  # malformed, oversized, nested too deeply: the kernel lost this link
            self.close()
            raise LostContact(f"{type(exc).__name__}: {exc}"[:300]) from None

    def _send(self, header, buffers):
        if self.sock is None:
            raise LostContact("no connection to the kernel")
        self.sock.settimeout(None if self.deadline is None else max(0.001, self.deadline - time.monotonic()))
        try:
            send(self.sock, header, buffers)
        except TimeoutError:
            self.close()  # part of the message may have gone: the connection is out of step
            raise TimeLimit() from None
        except OSError as exc:
            self.close()
            raise LostContact(str(exc)) from None

    def _named(self, wire):
        if wire.get("t") != "ref":
            raise ProtocolError("the kernel cannot send grader functions")
        try:
            return RemoteRef(self, int(wire["id"]))
        except (KeyError, TypeError, ValueError):
            raise ProtocolError("malformed handle") from None

    def _decode(self, wire, buffers):
        try:
            return decode(wire, buffers, self._named)
        except Exception as exc:  # ProtocolError, RecursionError, an unhashable key...
            self.close()
            raise LostContact(f"the kernel sent malformed data ({exc})") from None

    def _other(self, value):
        """Wire value for what is not plain data: a proxy goes back as its handle, a grader
        function as a callback the kernel gets a stand-in for."""
        if isinstance(value, RemoteRef):
            if object.__getattribute__(value, "_link") is not self:
                raise TypeError("that object lives in another kernel")
            return {"t": "ref", "id": object.__getattribute__(value, "_id")}
        if callable(value):
            key = id(value)
            if key not in self._callback_ids:
                self._callback_ids[key] = len(self._callbacks)
                self._callbacks[len(self._callbacks)] = value
            return {"t": "cb", "id": self._callback_ids[key]}
        raise TypeError(f"cannot send a {type(value).__name__} to the student's kernel")

    def forget_callbacks(self):
        """Stand-ins handed out so far stop working (each test cell hands out its own)."""
        self._callbacks, self._callback_ids = {}, {}

    def request(self, op, **fields):
        """Send one request and return its decoded answer; RemoteError when the student's code raised."""
        request_id = next(self._ids)
        buffers = []
        header = {"id": request_id, "op": op}
        for key, value in fields.items():
            header[key] = value if key in ("name", "seed") else encode(value, buffers, self._other)
        self._send(header, buffers)
        self._pending = request_id
        reply, buffers = self._wait(request_id)
        self._pending = None
        if not reply.get("ok"):
            error = reply.get("error")
            raise RemoteError(*(error if isinstance(error, list) and len(error) == 2 else ["Error", ""]))
        return reply, buffers

    def _wait(self, request_id):
        while True:
            header, buffers = self._receive()
            if header.get("op") == "callback":
                self._serve_callback(header, buffers)
            elif header.get("id") == request_id:
                return header, buffers
            else:
                self.close()
                raise LostContact("the kernel answered out of turn")

    @property
    def waiting(self):
        """Is a request of ours unanswered (the kernel busy with it)?"""
        return self._pending is not None

    def drain(self):
        """After an interrupt: wait for the answer to the request that was cut short (refusing any
        callback meanwhile), so the connection is in step again."""
        while self._pending is not None:
            header, _ = self._receive()
            if header.get("op") == "callback":
                self._send({"id": header.get("id"), "ok": False, "error": ["TimeoutError", "time limit"]}, [])
            elif header.get("id") == self._pending:
                self._pending = None

    def _serve_callback(self, header, buffers):
        answer_id = header.get("id")
        try:
            function = self._callbacks[int(header.get("cb"))]
        except (KeyError, TypeError, ValueError):
            self._send({"id": answer_id, "ok": False, "error": ["RuntimeError", "stale grader function"]}, [])
            return
        args = self._decode(header.get("args"), buffers)
        kwargs = self._decode(header.get("kwargs"), buffers)
        if not isinstance(args, list) or not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
            self.close()
            raise LostContact("malformed callback arguments")
        try:
            result = function(*args, **kwargs)
            out = []
            reply = {"id": answer_id, "ok": True, "value": encode(result, out, self._other)}
            mutated = [[k, encode(v, out, self._other)] for k, v in changed_arguments(args, kwargs)]
            if mutated:
                reply["mutated"] = mutated
        except (TimeLimit, LostContact):
            raise
        except Exception as exc:  # the reference raised (bad input from the student's code)
            reply, out = {"id": answer_id, "ok": False, "error": [type(exc).__name__, str(exc)[:500]]}, []
        self._send(reply, out)

    # --- operations ----------------------------------------------------------------------
    def value(self, op, **fields):
        reply, buffers = self.request(op, **fields)
        return self._decode(reply.get("value"), buffers)

    def call(self, target, args, kwargs):
        """Call ``target`` in the kernel. What the call stored in a dict argument is stored in ours
        too (values replaced, never written into our arrays); nothing else of ours changes."""
        args, kwargs = list(args), dict(kwargs)
        reply, buffers = self.request("call", target=target, args=args, kwargs=kwargs)
        mutated = reply.get("mutated") or []
        for item in mutated if isinstance(mutated, list) else []:
            key, wire = item if isinstance(item, list) and len(item) == 2 else (None, None)
            original = (args[key] if isinstance(key, int) and 0 <= key < len(args)
                        else kwargs.get(key) if isinstance(key, str) else None)
            new = self._decode(wire, buffers) if isinstance(original, dict) else None
            if isinstance(new, dict):
                _write_back(original, new)
        return self._decode(reply.get("value"), buffers)

    def lookup(self, name):
        try:
            return self.value("lookup", name=name)
        except RemoteError as exc:
            if exc.ename == "NameError":
                raise NameError(exc.evalue) from None
            raise

    def namespace(self):
        """The notebook's globals, as a proxy (e.g. to swap in reference functions)."""
        return self.value("namespace")

    def module(self, name):
        return self.value("module", name=name)

    def builtin(self, name):
        return self.value("builtin", name=name)

    def seed(self, seed):
        """Seed the kernel's random, numpy and torch generators (grading is deterministic)."""
        self.value("seed", seed=int(seed))

    def end(self):
        self._send({"op": "end"}, [])


def _write_back(original, new):
    """Store in our dict what the kernel's copy of it holds after a call. A grader object handed to
    the kernel comes back as a handle to its stand-in: ours is kept."""
    for key in [k for k in original if k not in new]:
        del original[key]
    for key, value in new.items():
        if not (key in original and isinstance(value, RemoteRef) and not isinstance(original[key], RemoteRef)):
            original[key] = value
