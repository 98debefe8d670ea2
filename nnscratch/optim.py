"""Optimizers: mini-batch stochastic gradient descent (thesis §3.2.2) and two
adaptive variants of it, plus clipping of the gradient norm.

Each step moves every parameter θ against its gradient g = ∂L/∂θ, computed
by backpropagation on a mini-batch, scaled by the learning rate η (``lr``, a
public attribute, so a schedule may change it between steps).

Weight decay. Eq. 3.6 of the thesis adds λ‖θ‖² to the loss; its gradient is
2λθ. ``weight_decay`` adds ``weight_decay · θ`` to g before the update, so it
is the gradient of λ‖θ‖² with λ = weight_decay / 2 (the same convention as
torch.optim). It applies to every parameter given to the optimizer.

An optimizer's extra arrays (momentum, moment estimates) are its *slots*,
created on the first step of each parameter with the parameter's shape,
dtype and array module (NumPy or CuPy). A parameter whose ``grad`` is None is
left alone. ``state_dict()`` holds the step counts and every slot, keyed by
the parameter's position in ``params`` ("3/m"), so that a run restored from
a checkpoint, with the parameters given in the same order, continues exactly
as it would have.
"""
import math
from collections import OrderedDict

import numpy as np

from .backend import get_array_module
from .layers.module import copy_into


class Optimizer:
    """Base class: ``step()`` updates every parameter that has a gradient.

    Subclasses list their slots in ``slot_names`` and implement
    ``_update(i, theta, g)``, changing the array ``theta`` in place, where g
    already includes weight decay. ``self.counts[i]`` is how many updates
    parameter i has had (Adam's t); ``self.steps`` how many times ``step()``
    ran.
    """

    slot_names = ()

    def __init__(self, params, lr, weight_decay=0.0):
        self.params = list(params)
        name = type(self).__name__
        if not self.params:
            raise ValueError(f"{name}: the list of parameters is empty")
        if lr < 0 or weight_decay < 0:
            raise ValueError(f"{name}: lr ({lr}) and weight_decay ({weight_decay}) "
                             f"must be non-negative")
        self.lr, self.weight_decay = lr, weight_decay
        self.steps = 0
        self.counts = [0] * len(self.params)
        self.slots = [{} for _ in self.params]

    def step(self):
        """θ ← update(θ, g + weight_decay·θ) for every parameter with a gradient."""
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad + self.weight_decay * p.data if self.weight_decay else p.grad
            self.counts[i] += 1
            self._update(i, p.data, g)
        self.steps += 1

    def _update(self, i, theta, g):
        raise NotImplementedError

    def _slot(self, i, name):
        """Slot ``name`` of parameter i; zeros like the parameter until first written."""
        slots = self.slots[i]
        if name not in slots:
            theta = self.params[i].data
            slots[name] = get_array_module(theta).zeros_like(theta)
        return slots[name]

    def zero_grad(self):
        """Forget the gradients of every parameter (``grad = None``)."""
        for p in self.params:
            p.grad = None

    def state_dict(self):
        """OrderedDict: "steps", "counts" (one per parameter) and a copy of
        every slot under "i/name" (i the parameter's position)."""
        state = OrderedDict(steps=np.asarray(self.steps, np.int64),
                            counts=np.asarray(self.counts, np.int64))
        for i, slots in enumerate(self.slots):
            for name, value in slots.items():
                state[f"{i}/{name}"] = value.copy()
        return state

    def load_state_dict(self, state):
        """Restore what ``state_dict()`` returned; raises ValueError naming
        each key that does not fit these parameters (nothing changes then)."""
        problems = self._state_problems(state)
        if problems:
            raise ValueError(f"{type(self).__name__}.load_state_dict: " + "; ".join(problems))
        self.steps = int(state["steps"])
        self.counts = [int(c) for c in np.asarray(state["counts"])]
        self.slots = [{} for _ in self.params]
        for key, value in state.items():
            if key not in ("steps", "counts"):
                index, name = key.split("/")
                copy_into(self._slot(int(index), name), value)
        return self

    def _state_problems(self, state):
        problems = [f"'{key}' is missing" for key in ("steps", "counts") if key not in state]
        if "counts" in state and np.shape(state["counts"]) != (len(self.params),):
            problems.append(f"'counts' has shape {np.shape(state['counts'])}, "
                            f"expected ({len(self.params)},): one per parameter")
        for key, value in state.items():
            if key in ("steps", "counts"):
                continue
            index, _, name = key.partition("/")
            if not index.isdigit() or int(index) >= len(self.params) or name not in self.slot_names:
                problems.append(f"'{key}' names no slot of this optimizer (slots "
                                f"{self.slot_names} of {len(self.params)} parameters)")
            elif np.shape(value) != self.params[int(index)].shape:
                problems.append(f"'{key}' has shape {np.shape(value)}, parameter {index} "
                                f"has shape {self.params[int(index)].shape}")
        return problems


class SGD(Optimizer):
    """Stochastic gradient descent (thesis §3.2.2), with optional momentum μ:

        v ← μ v + g,   θ ← θ − η v        (μ = 0: θ ← θ − η g)

    Slot: "velocity" v (only when momentum > 0). See the module docstring
    for ``weight_decay`` and eq. 3.6.
    """

    slot_names = ("velocity",)

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        if momentum < 0:
            raise ValueError(f"SGD: momentum must be non-negative, got {momentum}")
        self.momentum = momentum

    def _update(self, i, theta, g):
        if self.momentum:
            v = self._slot(i, "velocity")
            v *= self.momentum
            v += g
            g = v
        theta -= self.lr * g


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015): SGD with per-element steps from moment estimates.

        m ← β₁ m + (1 − β₁) g,   v ← β₂ v + (1 − β₂) g²
        m̂ = m / (1 − β₁ᵗ),   v̂ = v / (1 − β₂ᵗ),   θ ← θ − η m̂ / (√v̂ + ε)

    t counts this parameter's updates. Slots: "m", "v". See the module
    docstring for ``weight_decay`` (added to g, as in eq. 3.6, not AdamW).
    """

    slot_names = ("m", "v")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        if not all(0 <= beta < 1 for beta in betas):
            raise ValueError(f"Adam: betas must lie in [0, 1), got {betas}")
        self.betas, self.eps = tuple(betas), eps
        self._buffer = None   # the scratch array of _work

    def _update(self, i, theta, g):
        beta1, beta2 = self.betas
        xp = get_array_module(theta)
        m, v, work = self._slot(i, "m"), self._slot(i, "v"), self._work(theta)
        t = self.counts[i]
        m *= beta1                                   # m ← β₁ m + (1 − β₁) g
        m += xp.multiply(g, 1 - beta1, out=work)
        v *= beta2                                   # v ← β₂ v + (1 − β₂) g²
        xp.multiply(g, g, out=work)
        work *= 1 - beta2
        v += work
        # θ ← θ − η m̂ / (√v̂ + ε), written as θ − (η / (1 − β₁ᵗ)) m / (√v / √(1 − β₂ᵗ) + ε)
        xp.sqrt(v, out=work)
        work /= math.sqrt(1 - beta2 ** t)
        work += self.eps
        xp.divide(m, work, out=work)
        work *= self.lr / (1 - beta1 ** t)
        theta -= work

    def _work(self, theta):
        """A scratch array of θ's shape, one buffer reused by every parameter
        (not a slot: nothing is kept in it between updates)."""
        buffer = self._buffer
        if (buffer is None or buffer.size < theta.size or buffer.dtype != theta.dtype
                or get_array_module(buffer) is not get_array_module(theta)):
            buffer = get_array_module(theta).empty(
                max(theta.size, 0 if buffer is None else buffer.size), theta.dtype)
            self._buffer = buffer
        return buffer[:theta.size].reshape(theta.shape)


class RMSprop(Optimizer):
    """RMSprop (Tieleman & Hinton 2012): divide g by a running RMS of itself.

        s ← α s + (1 − α) g²,   θ ← θ − η g / (√s + ε)

    Slot: "mean_square" s. See the module docstring for ``weight_decay``.
    """

    slot_names = ("mean_square",)

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        if not 0 <= alpha < 1:
            raise ValueError(f"RMSprop: alpha must lie in [0, 1), got {alpha}")
        self.alpha, self.eps = alpha, eps

    def _update(self, i, theta, g):
        s = self._slot(i, "mean_square")
        s *= self.alpha
        s += (1 - self.alpha) * g * g
        theta -= self.lr * g / (get_array_module(s).sqrt(s) + self.eps)


def clip_grad_norm(params, max_norm):
    """Scale every gradient by min(1, max_norm / ‖g‖), ‖g‖ the L2 norm of all
    the gradients together; returns ‖g‖ before clipping (a float).

    Parameters whose grad is None are skipped. Gradients are replaced, not
    changed in place (two leaves may share one gradient array).
    """
    params = [p for p in params if p.grad is not None]
    if not params:
        return 0.0
    xp = get_array_module(params[0].grad)
    norm = float(np.sqrt(sum(float(xp.sum(p.grad * p.grad, dtype=xp.float64)) for p in params)))
    if norm > max_norm:
        for p in params:
            p.grad = p.grad * (max_norm / norm)
    return norm
