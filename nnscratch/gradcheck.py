"""Numerical gradients and a gradient checker that fails.

The analytic gradient of every op (its hand-written ``backward``) is compared
with central differences in float64,

    ∂L/∂x_i ≈ (L(x + ε e_i) - L(x - ε e_i)) / 2ε,   L(x) = Σ f(x) ⊙ G,

where G is a random upstream gradient, so that every output element weighs
differently and an error in one cannot hide behind the others. Small inputs
are checked element by element; for a large one a few random directions d
are checked instead, (L(x + εd) - L(x - εd)) / 2ε = ∇L · d.
"""
import numpy as np

from .backend import get_array_module
from .core import Tensor

MAX_ELEMENTWISE = 4096  # inputs larger than this are checked along random directions
DIRECTIONS = 8


class GradientCheckError(AssertionError):
    """The analytic and numerical gradients of some input disagree."""


def _outputs(result):
    return result if isinstance(result, tuple) else (result,)


def _objective(f, arrays, grad_outputs):
    """L = Σ_k Σ f_k(x) ⊙ G_k, evaluated on plain arrays (no graph)."""
    outputs = _outputs(f(*[Tensor(a) for a in arrays]))
    xp = get_array_module(arrays[0])
    return float(sum(xp.sum(y.data * g) for y, g in zip(outputs, grad_outputs)))


def gradcheck(f, inputs, grad_output=None, eps=1e-6, rtol=1e-5, atol=1e-7, seed=0):
    """Check ``f``'s backward against central differences; raise on mismatch.

    ``f(*tensors)`` returns a Tensor or a tuple of Tensors. ``inputs`` are
    arrays or Tensors; every floating-point one is cast to float64 and
    checked (integer inputs, such as token ids, are passed through). When
    ``f`` is a ``Module``, its parameters are checked too. ``grad_output``
    (one array per output) defaults to random normal values. Returns True.
    """
    rng = np.random.default_rng(seed)
    arrays = [np.array(x.data if isinstance(x, Tensor) else x) for x in inputs]
    arrays = [a.astype(np.float64) if np.issubdtype(a.dtype, np.floating) else a for a in arrays]
    params = list(f.parameters()) if hasattr(f, "parameters") else []
    saved_params = [p.data for p in params]
    for p in params:
        p.data = p.data.astype(np.float64)
    try:
        tensors = [Tensor(a, requires_grad=np.issubdtype(a.dtype, np.floating)) for a in arrays]
        outputs = _outputs(f(*tensors))
        if grad_output is None:
            grad_outputs = [rng.standard_normal(y.shape) for y in outputs]
        else:
            grad_outputs = [np.asarray(g, dtype=np.float64) for g in _outputs(grad_output)]
        for p in params:
            p.grad = None
        _backward_all(outputs, grad_outputs)
        checked = [(f"input {i}", a, t.grad) for i, (a, t) in enumerate(zip(arrays, tensors))
                   if t.requires_grad]
        checked += [(f"parameter {name}", p.data, p.grad) for name, p in _named(f, params)]
        for name, value, analytic in checked:
            _compare(f, arrays, grad_outputs, name, value, analytic, eps, rtol, atol, rng)
    finally:
        for p, data in zip(params, saved_params):
            p.data, p.grad = data, None
    return True


def _named(f, params):
    names = dict((id(p), n) for n, p in f.named_parameters()) if hasattr(f, "named_parameters") else {}
    return [(names.get(id(p), str(i)), p) for i, p in enumerate(params)]


def _backward_all(outputs, grad_outputs):
    """Backpropagate Σ_k f_k ⊙ G_k through every output at once."""
    if len(outputs) == 1:
        outputs[0].backward(grad_outputs[0])
        return
    total = None
    for y, g in zip(outputs, grad_outputs):
        term = (y * Tensor(g)).sum()
        total = term if total is None else total + term
    total.backward()


def _compare(f, arrays, grad_outputs, name, value, analytic, eps, rtol, atol, rng):
    """Raise GradientCheckError unless ``analytic`` matches central differences
    of L with respect to ``value`` (an input or parameter array, nudged in place)."""
    if analytic is None:
        analytic = np.zeros(value.shape)

    def objective():
        return _objective(f, arrays, grad_outputs)

    if value.size <= MAX_ELEMENTWISE:
        numeric = _elementwise(objective, value, eps)
        ok = np.allclose(analytic, numeric, rtol=rtol, atol=atol)
        detail = np.max(np.abs(analytic - numeric)) if value.size else 0.0
        if not ok:
            raise GradientCheckError(
                f"gradcheck: {name} of shape {value.shape}: analytic and numerical "
                f"gradients differ by up to {detail:.3g} (rtol={rtol}, atol={atol})")
        return
    for _ in range(DIRECTIONS):
        d = rng.standard_normal(value.shape)
        value += eps * d
        plus = objective()
        value -= 2 * eps * d
        minus = objective()
        value += eps * d
        numeric = (plus - minus) / (2 * eps)
        exact = float(np.sum(analytic * d))
        if not np.isclose(exact, numeric, rtol=rtol, atol=atol * np.sqrt(value.size)):
            raise GradientCheckError(
                f"gradcheck: {name} of shape {value.shape}: along a random direction "
                f"the analytic derivative is {exact:.6g}, the numerical {numeric:.6g}")


def _elementwise(objective, value, eps):
    """∂L/∂value_i by central differences, changing ``value`` in place."""
    grad = np.zeros(value.shape)
    flat, out = value.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + eps
        plus = objective()
        flat[i] = saved - eps
        minus = objective()
        flat[i] = saved
        out[i] = (plus - minus) / (2 * eps)
    return grad
