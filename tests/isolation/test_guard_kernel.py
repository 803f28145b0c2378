"""grader/isolation/guard_kernel.py, the guard's kernel side, in a real kernel: it snapshots the tools,
puts back what student code changed and says what it put back."""

import ast
import json

import pytest
from jupyter_client.manager import start_new_kernel

from grader.isolation.guard import KERNEL_CODE, TOOL_MODULES


@pytest.fixture
def kernel():
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        yield kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _run(kc, code):
    """A cell, as nbclient runs it (no stdin)."""
    reply = kc.execute_interactive(code, allow_stdin=False, timeout=60, output_hook=lambda msg: None)
    assert reply["content"]["status"] == "ok", reply["content"]


def _evaluate(kc, expression):
    """As the guard asks the kernel: a user expression (no input transformers), its text."""
    reply = kc.execute_interactive("", silent=True, store_history=False, allow_stdin=False, timeout=60,
                                   output_hook=lambda msg: None, user_expressions={"g": expression})
    value = reply["content"]["user_expressions"]["g"]
    assert value["status"] == "ok", value
    return value["data"]["text/plain"]


def _check(kc):
    """What the guard put back."""
    text = _evaluate(kc, "__import__('sys').modules['_grader_guard'].check(0)")
    return sorted(tuple(item) for item in json.loads(ast.literal_eval(text)))


def _install(kc, names):
    _run(kc, "import numpy as np\nfrom math import sqrt\nfrom pathlib import Path\n")  # the provided cell
    code = KERNEL_CODE + f"\n_install(['math', 'numpy'], {names!r}, {TOOL_MODULES!r})\n"
    _evaluate(kc, f"exec(compile({code!r}, '<grader-guard>', 'exec'), {{'get_ipython': get_ipython}})")


def test_untouched_kernel_reports_nothing(kernel):
    _install(kernel, {"np": ("numpy", None), "sqrt": ("math", "sqrt")})
    _run(kernel, "def box_kernel(n):\n    return np.ones((n, n)) / n**2\nx = box_kernel(3)")
    assert _check(kernel) == []


def test_patched_tools_and_rebound_names_are_put_back(kernel):
    _install(kernel, {"np": ("numpy", None), "sqrt": ("math", "sqrt"), "Path": ("pathlib", "Path")})
    _run(kernel, "np.allclose = lambda *a, **k: True\n"
                 "sqrt = abs\n"
                 "Path = None\n"
                 "get_ipython().input_transformers_post.append(lambda lines: lines)\n")
    assert _check(kernel) == [("name", "Path"), ("tool", "input_transformers_post"), ("tool", "numpy.allclose"),
                              ("tool", "sqrt")]
    _run(kernel, "assert not np.allclose(1, 2) and sqrt(4) == 2 and Path('a').name == 'a'\n"
                 "assert get_ipython().input_transformers_post == []")
    assert _check(kernel) == []  # put back once, reported once


def test_a_trace_function_and_a_replaced_module_are_put_back(kernel):
    _install(kernel, {"np": ("numpy", None)})
    _run(kernel, "import sys, types\nsys.settrace(lambda *a: None)\nsys.modules['math'] = types.ModuleType('math')")
    assert _check(kernel) == [("tool", "sys.modules['math']"), ("tool", "sys.settrace")]
    _run(kernel, "import sys, math\nassert sys.gettrace() is None and math.sqrt(9) == 3")
