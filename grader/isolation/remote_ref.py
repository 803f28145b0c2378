"""``RemoteRef``: a stand-in, in the grader's process, for an object that lives in the student's kernel
(see ``grader.isolation.remote``). Everything it does is a request over its ``KernelLink``; nothing
the student's object does runs here."""

import operator

import numpy as np


def _by_value(op):
    def method(self, *other):
        return op(self._value(), *other)
    return method


def _reflected(op):
    def method(self, other):
        return op(other, self._value())
    return method


class RemoteRef:
    """An object in the student's kernel. Attribute and item access, calls and ``_value()``
    are requests; operators, iteration, ``len`` and ``np.asarray`` work on its value (a copy).
    Equality is identity: an object that claims to equal everything stays in the kernel."""

    __slots__ = ("_link", "_id")

    def __init__(self, link, handle):
        object.__setattr__(self, "_link", link)
        object.__setattr__(self, "_id", handle)

    def __getattr__(self, name):
        if name.startswith("__") or name.startswith("_repr_"):
            raise AttributeError(name)
        return self._link.value("getattr", target=self, name=name)

    def __setattr__(self, name, value):
        self._link.value("setattr", target=self, name=name, value=value)

    def __getitem__(self, key):
        return self._link.value("getitem", target=self, key=key)

    def __setitem__(self, key, value):
        self._link.value("setitem", target=self, key=key, value=value)

    def __call__(self, *args, **kwargs):
        return self._link.call(self, args, kwargs)

    def _value(self):
        return self._link.value("value", target=self)

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self._value(), dtype=dtype)

    def __iter__(self):
        return iter(self._value())

    def __len__(self):
        return len(self._value())

    def __bool__(self):
        return bool(self._value())

    def __contains__(self, item):
        return item in self._value()

    def __eq__(self, other):
        return other is self

    def __ne__(self, other):
        return other is not self

    __hash__ = object.__hash__

    def __repr__(self):
        return f"<object #{self._id} in the student's kernel>"

    for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "lt", "le", "gt", "ge"):
        locals()[f"__{_name}__"] = _by_value(getattr(operator, _name))
    for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul"):
        locals()[f"__r{_name}__"] = _reflected(getattr(operator, _name))
    __neg__ = _by_value(operator.neg)
    __abs__ = _by_value(operator.abs)
    __float__ = _by_value(float)
    __int__ = _by_value(int)
    del _name
