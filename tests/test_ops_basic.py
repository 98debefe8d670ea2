"""Arithmetic, shape ops, activations, linear and dropout: forward against
plain NumPy, gradients against central differences, errors by name."""
import numpy as np
import pytest

import nnscratch.functional as F
from nnscratch import Tensor, no_grad
from nnscratch.backend import to_cpu

rng = np.random.default_rng(0)


def randn(*shape):
    return rng.standard_normal(shape)


def away_from_zero(*shape):
    """Values with |x| >= 0.1, so ReLU's kink is never within a gradcheck step."""
    x = randn(*shape)
    return np.sign(x) * (np.abs(x) + 0.1)


GRADCHECK_CASES = {
    "add": [(F.add, [randn(3, 4), randn(4)]), (lambda a: a + 2.0, [randn(2, 3)])],
    "sub": [(F.sub, [randn(3, 1), randn(1, 4)]), (lambda a: 1.0 - a, [randn(3)])],
    "mul": [(F.mul, [randn(2, 3, 4), randn(3, 1)])],
    "div": [(F.div, [randn(3, 4), np.abs(randn(3, 4)) + 1.0]), (lambda a: 2.0 / a, [np.abs(randn(5)) + 1])],
    "neg": [(F.neg, [randn(3, 2)])],
    "matmul": [(F.matmul, [randn(3, 4), randn(4, 2)]), (F.matmul, [randn(2, 3, 4), randn(4, 5)])],
    "getitem": [(lambda a: a[1:, ::2], [randn(3, 4)]),
                (lambda a: a[np.array([0, 2, 0])], [randn(3, 4)]),  # a repeated row adds up
                (lambda a: a[np.array([[2, 0], [-1, 2]])], [randn(3, 2, 2)]),  # rows of a 3-d
                (lambda a: a[1, None, ..., ::-1], [randn(3, 2, 4)]),
                (lambda a: a[np.int64(2)], [randn(3, 4)]),
                (lambda a: a[:, np.array([1, 1, 0])], [randn(2, 3, 2)]),
                (lambda a: a[np.arange(12).reshape(3, 4) % 3 == 1], [randn(3, 4)])],
    "reshape": [(lambda a: F.reshape(a, (4, -1)), [randn(2, 3, 2)])],
    "transpose": [(lambda a: F.transpose(a, (2, 0, 1)), [randn(2, 3, 4)]), (F.transpose, [randn(2, 3)])],
    "concat": [(lambda a, b: F.concat([a, b], axis=1), [randn(2, 3), randn(2, 1)])],
    "sum": [(F.sum, [randn(3, 4)]), (lambda a: F.sum(a, axis=(0, 2)), [randn(2, 3, 4)]),
            (lambda a: F.sum(a, axis=1, keepdims=True), [randn(2, 3)])],
    "relu": [(F.relu, [away_from_zero(3, 5)])],
    "sigmoid": [(F.sigmoid, [randn(3, 5)])],
    "tanh": [(F.tanh, [randn(3, 5)])],
    "dropout": [(lambda a: F.dropout(a, 0.3, train=True, rng=np.random.default_rng(1)), [randn(4, 5)])],
    "linear": [(F.linear, [randn(3, 4), randn(4, 2), randn(2)]), (F.linear, [randn(3, 4), randn(4, 2)])],
}


def test_forward_matches_numpy(xp):
    a, b = randn(3, 4).astype(np.float32), randn(4).astype(np.float32)
    ta, tb = Tensor(xp.asarray(a)), Tensor(xp.asarray(b))
    for got, want in [(ta + tb, a + b), (ta - tb, a - b), (ta * tb, a * b), (ta / (tb * tb + 1), a / (b * b + 1)),
                      (-ta, -a), (ta @ ta.T, a @ a.T), (ta.reshape(2, 6), a.reshape(2, 6)),
                      (F.relu(ta), np.maximum(a, 0)), (F.tanh(ta), np.tanh(a)),
                      (F.sigmoid(ta), 1 / (1 + np.exp(-a))), (F.linear(ta, ta.T), a @ a.T)]:
        np.testing.assert_allclose(to_cpu(got.data), want, rtol=1e-6, atol=1e-6)
        assert got.dtype == np.float32


def test_a_tensor_used_twice_accumulates():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * x + x  # dy/dx = 2x + 1
    y.backward(np.ones(2))
    np.testing.assert_allclose(x.grad, [3.0, 5.0])
    y = x * 3.0  # a second backward adds into .grad
    y.backward(np.ones(2))
    np.testing.assert_allclose(x.grad, [6.0, 8.0])


def test_diamond_graph_is_walked_in_topological_order():
    x = Tensor(np.array(2.0), requires_grad=True)
    a = x * x          # 4
    b = a * a + a      # a is used twice downstream: d/da = 2a + 1 = 9
    b.backward()
    np.testing.assert_allclose(x.grad, 9 * 2 * 2.0)  # 36


def test_no_grad_records_nothing():
    x = Tensor(np.ones(3), requires_grad=True)
    with no_grad():
        y = x * 2.0
    assert y.creator is None and not y.requires_grad
    z = x * 2.0
    assert z.creator is not None


def test_inputs_without_requires_grad_get_no_grad():
    x, w = Tensor(np.ones((2, 2))), Tensor(np.ones((2, 2)), requires_grad=True)
    (x @ w).sum().backward()
    assert x.grad is None and w.grad is not None


def test_dropout_is_identity_in_eval_and_scales_in_train():
    x = np.ones((200, 50), np.float32)
    assert np.array_equal(F.dropout(x, 0.5, train=False).data, x)
    y = F.dropout(x, 0.5, train=True, rng=np.random.default_rng(0)).data
    assert set(np.unique(y)) == {0.0, 2.0}
    assert abs(y.mean() - 1.0) < 0.05
    with pytest.raises(ValueError, match="dropout: p must be"):
        F.dropout(x, 1.0, train=True)


@pytest.mark.parametrize("call,message", [
    (lambda: F.linear(np.ones((2, 3)), np.ones((4, 5))), r"linear: input of shape \(2, 3\)"),
    (lambda: F.linear(np.ones((2, 3)), np.ones((3, 5)), np.ones(4)), r"linear: bias has shape \(4,\)"),
    (lambda: F.matmul(np.ones((2, 3)), np.ones((2, 3))), r"matmul: shapes \(2, 3\) and \(2, 3\)"),
    (lambda: F.reshape(np.ones((2, 3)), (4, 2)), r"reshape: cannot view an input of shape \(2, 3\)"),
    (lambda: F.concat([np.ones((2, 3)), np.ones((3, 3))], axis=1), r"concat: shapes"),
    (lambda: F.transpose(np.ones((2, 3)), (0, 0)), r"transpose: axes"),
    (lambda: Tensor(np.ones(3)).backward(np.ones(2)), r"backward: grad has shape"),
])
def test_errors_name_the_op_and_shapes(call, message):
    with pytest.raises(ValueError, match=message):
        call()
