"""The guard's kernel side: a snapshot of the grader's tools and IPython's machinery, and a check
that puts back what student code changed (see ``grader.isolation.guard``).

This file is sent to the kernel as source and run there before any student code; nothing of the
grader is importable in the kernel. ``_install(modules, names, tool_modules)`` takes the snapshot
into ``sys.modules["_grader_guard"]``; its ``check(where)`` restores what changed since and returns
a JSON list of ``[kind, what]`` pairs (kind "tool" for the grader's tools, "name" for a rebound
name the read-only cells imported).
"""

import builtins
import importlib
import json
import sys
import types

from IPython import get_ipython


def _snapshot_module(mod):
    return {k: v for k, v in vars(mod).items() if callable(v) or isinstance(v, types.ModuleType)}


def _install(modules, names, tool_modules):
    ip = get_ipython()
    g = types.ModuleType("_grader_guard")
    g.mods = {}
    for name in modules:
        try:
            mod = importlib.import_module(name)
        except Exception:
            continue
        g.mods[name] = (mod, _snapshot_module(mod))
    for name, mod in list(sys.modules.items()):
        if name.startswith("numpy.") and mod is not None and name.count(".") == 1 and name not in g.mods:
            g.mods[name] = (mod, _snapshot_module(mod))
    g.mods["builtins"] = (
        builtins,
        {
            k: v
            for k, v in vars(builtins).items()
            if k not in ("exit", "quit", "get_ipython", "display", "__IPYTHON__", "_", "__", "___")
        },
    )
    g.names = names
    g.tool_modules = tuple(tool_modules)
    shell_cls = [c for c in type(ip).__mro__ if c.__module__.startswith(("IPython", "ipykernel"))]
    kern_cls = [c for c in type(ip.kernel).__mro__ if c.__module__.startswith(("ipykernel", "jupyter"))]
    g.classes = {c: dict(vars(c)) for c in shell_cls + kern_cls}
    g.ip_dict = {k: v for k, v in vars(ip).items() if callable(v) and not isinstance(v, type)}
    g.kernel_dict = {k: v for k, v in vars(ip.kernel).items() if callable(v) and not isinstance(v, type)}
    g.handlers = dict(ip.kernel.shell_handlers)
    g.lists = {
        a: list(getattr(ip, a)) for a in ("input_transformers_post", "input_transformers_cleanup", "ast_transformers")
    }
    tm = ip.input_transformer_manager
    g.tm_lists = {
        a: list(getattr(tm, a))
        for a in ("cleanup_transforms", "line_transforms", "token_transformers")
        if hasattr(tm, a)
    }
    g.events = {e: list(cbs) for e, cbs in ip.events.callbacks.items()}
    g.custom_exc = (ip.custom_exceptions, getattr(ip, "CustomTB", None))
    g.sys_hooks = {
        "excepthook": sys.excepthook,
        "displayhook": sys.displayhook,
        "stdout": sys.stdout,
        "stderr": sys.stderr,
    }
    g.check = lambda where: json.dumps(_check(g))
    sys.modules["_grader_guard"] = g


def _library(fn):
    mod = getattr(fn, "__module__", "") or ""
    return mod.split(".")[0] in (
        "matplotlib_inline",
        "matplotlib",
        "IPython",
        "ipykernel",
        "ipywidgets",
        "tqdm",
        "jupyter_client",
        "comm",
    )


def _check(g):
    ip = get_ipython()
    fixed = []
    for name, (mod, snap) in g.mods.items():
        if sys.modules.get(name, mod) is not mod:
            sys.modules[name] = mod
            fixed.append(("tool", f"sys.modules[{name!r}]"))
        current = vars(mod)
        for k, v in snap.items():
            if current.get(k, v) is not v or k not in current:
                setattr(mod, k, v)
                fixed.append(("tool", f"{name}.{k}"))
    for var, (modname, attr) in g.names.items():
        if var not in ip.user_ns or modname not in sys.modules:
            continue
        mod = g.mods[modname][0] if modname in g.mods else sys.modules[modname]
        want = mod if attr is None else (g.mods[modname][1].get(attr) if modname in g.mods else None)
        if want is None and attr is not None:
            want = getattr(mod, attr, None)
        if want is not None and ip.user_ns[var] is not want:
            ip.user_ns[var] = want
            fixed.append(
                ("tool" if modname in g.tool_modules or modname.split(".")[0] in g.tool_modules else "name", var)
            )
    for cls, snap in g.classes.items():
        for k, v in snap.items():
            if vars(cls).get(k, v) is not v or k not in vars(cls):
                setattr(cls, k, v)
                fixed.append(("tool", f"{cls.__name__}.{k}"))
        for k in set(vars(cls)) - set(snap):
            if callable(vars(cls)[k]):
                delattr(cls, k)
                fixed.append(("tool", f"{cls.__name__}.{k}"))
    for obj, snap, label in ((ip, g.ip_dict, "shell"), (ip.kernel, g.kernel_dict, "kernel")):
        d = vars(obj)
        for k in [k for k, v in d.items() if callable(v) and not isinstance(v, type) and snap.get(k) is not v]:
            if k in snap:
                d[k] = snap[k]
            else:
                del d[k]
            fixed.append(("tool", f"{label}.{k}"))
    if ip.kernel.shell_handlers != g.handlers:
        ip.kernel.shell_handlers.clear()
        ip.kernel.shell_handlers.update(g.handlers)
        fixed.append(("tool", "kernel.shell_handlers"))
    for a, snap in g.lists.items():
        if list(getattr(ip, a)) != snap:
            getattr(ip, a)[:] = snap
            fixed.append(("tool", a))
    tm = ip.input_transformer_manager
    for a, snap in g.tm_lists.items():
        if list(getattr(tm, a)) != snap:
            getattr(tm, a)[:] = snap
            fixed.append(("tool", f"input_transformer_manager.{a}"))
    if ip.custom_exceptions != g.custom_exc[0] or getattr(ip, "CustomTB", None) is not g.custom_exc[1]:
        ip.custom_exceptions, ip.CustomTB = g.custom_exc
        fixed.append(("tool", "set_custom_exc"))
    for e, cbs in ip.events.callbacks.items():
        extra = [cb for cb in cbs if cb not in g.events.get(e, []) and not _library(cb)]
        for cb in extra:
            cbs.remove(cb)
            fixed.append(("tool", f"events[{e!r}]"))
    for k, v in g.sys_hooks.items():
        if getattr(sys, k) is not v:
            setattr(sys, k, v)
            fixed.append(("tool", f"sys.{k}"))
    if sys.gettrace() is not None or sys.getprofile() is not None:
        sys.settrace(None)
        sys.setprofile(None)
        fixed.append(("tool", "sys.settrace"))
    return fixed
