"""The test-cell assertions compare numbers, not objects, and explain failures."""

import numpy as np
import pytest

from helpers.checks import as_float_array, assert_close


class EqualsEverything:
    """A cheat: claims to equal anything it is compared with."""

    def __eq__(self, other):
        return True

    __hash__ = None


def test_object_claiming_equality_is_rejected():
    with pytest.raises(AssertionError, match="numeric"):
        assert_close(EqualsEverything(), np.ones((2, 2)), "cheat")


def test_none_gets_return_hint():
    with pytest.raises(AssertionError, match="return"):
        as_float_array(None, "f()")


def test_shape_and_finiteness_checked():
    with pytest.raises(AssertionError, match=r"shape \(2,\)"):
        as_float_array([1, 2], "x", shape=(2, 1))
    with pytest.raises(AssertionError, match="NaN"):
        as_float_array([1.0, np.nan], "x")


def test_lists_and_ints_are_numbers():
    out = as_float_array([[1, 2]], "x", shape=(1, 2))
    assert out.dtype == np.float64


def test_assert_close_names_worst_entry():
    with pytest.raises(AssertionError, match=r"1 of 4 entries.*index \(1, 0\)"):
        assert_close([[0, 0], [5, 0]], np.zeros((2, 2)), "x")
    assert_close([[1.0 + 1e-12]], [[1.0]], "x")
