"""The grader <-> kernel protocol (grader.isolation.remote, grader.isolation.kernel_agent), with the agent in a forked
plain-Python process standing in for the kernel: only plain data crosses, mutations come back,
grader functions reach student code as stand-ins, and a kernel that stalls or lies loses contact
without hurting the grader."""

import multiprocessing
import os
import signal
import socket
import time

import numpy as np
import pytest

from grader.grading.trusted_tests import TrustedNamespace, run_hidden, student_names
from grader.isolation import kernel_agent
from grader.isolation.kernel_agent import RemoteError
from grader.isolation.remote import KernelLink, LostContact, RemoteRef, TimeLimit

STUDENT = '''
import numpy as np

class Everything:
    def __eq__(self, other):
        return True
    def __array__(self, dtype=None, copy=None):
        return np.ones(3)

def double(x):
    return 2 * x

def same(x):
    return x

def bump(d, x):
    d["count"] = d.get("count", 0) + 1
    d["mean"] -= 1
    x += 1
    return None

def flood():
    return {i * (2**61 - 1): 0 for i in range(20000)}

def uses_helper(x):
    return helper(x) + 1

def helper(x):
    return x

def slow():
    import time
    time.sleep(30)

def weird():
    return np.array([object()], dtype=object)

class Model:
    def __init__(self, n):
        self.params = {"W": np.zeros(n)}
        self.reg = 0.0
    def loss(self):
        return float(np.sum(self.params["W"] ** 2)) + self.reg
'''


def _kernel(path, token, sabotage):
    namespace = {}
    exec(STUDENT, namespace)
    if sabotage == "garbage":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        kernel_agent.send(sock, {"hello": token})
        sock.recv(1 << 16)
        sock.sendall(b"\xff" * 64)
        time.sleep(5)
        os._exit(0)
    kernel_agent.connect(path, token, namespace)
    while True:
        kernel_agent.serve()


@pytest.fixture
def kernel(request, tmp_path):
    """(link, process) with the agent serving STUDENT in a forked process."""
    sabotage = getattr(request, "param", None)
    link = KernelLink(str(tmp_path))
    process = multiprocessing.get_context("fork").Process(target=_kernel, args=(link.path, link.token, sabotage))
    process.start()
    try:
        assert link.accept()
        link.deadline = time.monotonic() + 20
        yield link, process
    finally:
        link.close()
        process.kill()
        process.join()


def test_data_round_trips_with_dtypes_and_shapes(kernel):
    link, _ = kernel
    double = link.lookup("double")
    for value in (np.arange(6, dtype=np.float32).reshape(2, 3), np.float64(1.5), np.array(3, dtype=np.int64),
                  np.zeros((0, 4)), np.array([True, False])):
        got = double(value)
        assert isinstance(got, (np.ndarray, np.generic)) and got.dtype == (2 * value).dtype
        assert np.shape(got) == np.shape(value) and np.array_equal(got, 2 * value)
    assert double((1, [2.0, "a"], {"k": None})) == (1, [2.0, "a"], {"k": None}) * 2
    same = link.lookup("same")
    assert same(np.float32) is np.float32 and same(np.dtype("int16")) == np.dtype("int16")  # data, not callbacks
    assert same(float) is float and same(slice(1, None, 2)) == slice(1, None, 2)


def test_objects_stay_in_the_kernel_and_never_equal_everything(kernel):
    link, _ = kernel
    thing = link.lookup("Everything")()
    assert isinstance(thing, RemoteRef)
    assert thing != 1 and not (thing == np.ones(3)) and thing == thing
    with pytest.raises(RemoteError, match="plain data"):
        np.asarray(thing)  # its __array__ runs in the kernel, but the grader asks for plain data only
    assert isinstance(link.lookup("weird")(), RemoteRef)  # an object array is not data: it stays there


@pytest.mark.parametrize("wire", [
    {"t": "nd", "dtype": "|O", "shape": [1], "b": 0},  # objects would need unpickling
    {"t": "nd", "dtype": "<f8", "shape": [3], "b": 0},  # 8 bytes for 3 floats
    {"t": "nd", "dtype": [["a", "<f8"]], "shape": [1], "b": 0},
    {"t": "pickle", "v": "gASVAA=="},
    {"t": "dtype", "v": "|O"},
    {"t": "dict", "v": [[i * (2**61 - 1), 0] for i in range(5000)]},  # colliding keys: quadratic to insert
    {"t": "nd", "dtype": "<f8", "shape": [2**40, 2**40], "b": 0},
])
def test_the_codec_refuses_what_is_not_plain_data(wire):
    with pytest.raises(kernel_agent.ProtocolError):
        kernel_agent.decode(wire, [b"\0" * 8], lambda w: None)


def test_what_a_call_stores_in_a_dict_comes_back_but_our_arrays_never_change(kernel):
    link, _ = kernel
    mean = np.zeros(3)
    d, x = {"count": 1, "mean": mean}, np.zeros(3)
    link.lookup("bump")(d, x)
    assert d["count"] == 2 and d["mean"] is not mean  # replaced, not written into
    assert np.array_equal(x, np.zeros(3)) and np.array_equal(mean, np.zeros(3))
    assert np.array_equal(d["mean"], [-1, -1, -1])


def test_hidden_tests_look_up_only_the_notebooks_own_public_names(kernel):
    link, _ = kernel
    namespace = TrustedNamespace({}, link, {"double", "_secret"} | student_names([]))
    assert run_hidden("double(2)", namespace)[2] == 4
    for name in ("helper", "_secret"):  # defined in the kernel, but not an answer name / a private name
        _, exc, _ = run_hidden(f"{name}(1)", namespace)
        assert isinstance(exc, NameError), exc
    _, exc, _ = run_hidden("abs(-1) == 1 or fail()", namespace)  # builtins come first
    assert exc is None


def test_a_dict_of_colliding_keys_is_not_sent(kernel):
    link, _ = kernel
    with pytest.raises(RemoteError, match="too large"):  # and refused on receipt: see the codec's cases
        link.lookup("flood")()


def test_attributes_items_and_in_place_updates_reach_the_kernel(kernel):
    link, _ = kernel
    model = link.lookup("Model")(3)
    model.reg = 0.5
    model.params["W"][1] = 2.0
    assert model.loss() == 4.5
    params = model.params
    assert set(params) == {"W"} and np.array_equal(np.asarray(params["W"]), [0, 2, 0])


def test_grader_functions_reach_student_code_as_stand_ins_until_forgotten(kernel):
    link, _ = kernel
    link.namespace().update({"helper": lambda v: 10 * v})
    assert link.lookup("uses_helper")(2) == 21
    link.forget_callbacks()
    with pytest.raises(RemoteError, match="stale grader function"):
        link.lookup("uses_helper")(2)


def test_student_exceptions_are_remote_errors_and_builtins_come_first(kernel):
    link, _ = kernel
    with pytest.raises(RemoteError) as info:
        link.lookup("double")(None)
    assert info.value.ename == "TypeError"
    with pytest.raises(NameError, match="nope"):
        link.lookup("nope")


def test_a_stalled_kernel_is_a_time_limit_and_recovers_after_an_interrupt(kernel):
    link, process = kernel
    link.deadline = time.monotonic() + 1
    with pytest.raises(TimeLimit):
        link.lookup("slow")()
    os.kill(process.pid, signal.SIGINT)  # what the grader's kernel interrupt does
    link.deadline = time.monotonic() + 10
    link.drain()
    assert link.lookup("double")(2) == 4


@pytest.mark.parametrize("kernel", ["garbage"], indirect=True)
def test_malformed_messages_lose_contact(kernel):
    link, _ = kernel
    with pytest.raises(LostContact):
        link.lookup("double")
    with pytest.raises(LostContact):
        link.lookup("double")
