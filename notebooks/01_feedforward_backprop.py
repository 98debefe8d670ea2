# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # §3.2 Feed-forward networks, SGD and backpropagation (eq. 3.1–3.2)
#
# The thesis, §3.2.1:
#
# > «Estas redes neuronales suelen ser una composición de n capas, de manera que
# > la función final del modelo puede expresarse como una composición de n
# > funciones: f(x; θ) = f⁽ⁿ⁾(f⁽ⁿ⁻¹⁾(… f⁽¹⁾(x; θ) …)) (3.1)»
#
# *These networks are usually a composition of n layers, so that the model's
# final function can be written as a composition of n functions (eq. 3.1).*
#
# §3.2.2, on the cost that stochastic gradient descent minimises:
#
# > «Lo más común es utilizar la función *negative log-likelihood*, ya que
# > minimizar esta función es equivalente a maximizar la probabilidad del
# > dataset D dados los parámetros del modelo.» (eq. 3.2:
# > l(θ, D) = −Σᵢ log P(Y = y⁽ⁱ⁾ | x⁽ⁱ⁾, θ))
#
# *The most common choice is the negative log-likelihood, since minimising it
# is the same as maximising the probability of the dataset D given the
# parameters.*
#
# §3.2.3, backpropagation:
#
# > «El gradiente de la función para la entrada y los parámetros se empieza a
# > calcular en las últimas capas y se propaga hacia las primeras.»
#
# *The gradient with respect to the input and the parameters is computed
# starting from the last layers and propagated towards the first.*
#
# This notebook builds a two-layer network (eq. 3.1 with n = 2), computes the
# gradient of eq. 3.2 by hand, layer by layer from the last one back, and checks
# it against `Tensor.backward` (`nnscratch/core.py`); then it runs the gradient
# checker (`nnscratch/gradcheck.py`) on it, shows the checker catching a wrong
# backward, and trains the network with mini-batch SGD.

# %%
import time

import numpy as np

from companion import plt, show

import nnscratch.functional as F
from nnscratch import Tensor
from nnscratch.core import Function
from nnscratch.gradcheck import GradientCheckError, gradcheck
from nnscratch.optim import SGD

started = time.perf_counter()

# %% [markdown]
# ## A small classification task
#
# Three interleaved spirals in the plane (cs231n's example): no straight line
# separates them, so the hidden layer has work to do. x⁽ⁱ⁾ ∈ ℝ², y⁽ⁱ⁾ ∈ {0, 1, 2}.

# %%
rng = np.random.default_rng(0)
K, PER_CLASS = 3, 100
radius = np.tile(np.linspace(0.05, 1, PER_CLASS), K)
angle = (np.repeat(np.arange(K), PER_CLASS) * 4 + np.tile(np.linspace(0, 4, PER_CLASS), K)
         + rng.normal(0, 0.2, K * PER_CLASS))
X = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
y = np.repeat(np.arange(K), PER_CLASS)
figure, axes = plt.subplots(figsize=(4, 4))
axes.scatter(X[:, 0], X[:, 1], c=y, cmap="brg", s=10)
axes.set_title("three spirals")
show(figure, "spirals")

# %% [markdown]
# ## Eq. 3.1 with two layers, and eq. 3.2
#
# f⁽¹⁾(x) = ReLU(x W₁ + b₁), f⁽²⁾(h) = h W₂ + b₂ (the class scores), and the
# mean negative log-likelihood of the softmax of the scores:
#
#     p = softmax(f⁽²⁾(f⁽¹⁾(x))),   l = −(1/N) Σᵢ log p_{y⁽ⁱ⁾}
#
# (the sum of eq. 3.2 divided by N, so that the learning rate does not depend on
# the batch size). In nnscratch, `F.linear`, `F.relu` and `F.cross_entropy`
# (`nnscratch/functions/`) each record themselves in the graph as they run.

# %%
H = 50
W1 = 0.5 * rng.standard_normal((2, H))
b1 = np.zeros(H)
W2 = 0.5 * rng.standard_normal((H, K))
b2 = np.zeros(K)


def network(x, W1, b1, W2, b2):
    """Eq. 3.1 with n = 2: the class scores (N, K)."""
    return F.linear(F.relu(F.linear(x, W1, b1)), W2, b2)


params = [Tensor(p.copy(), requires_grad=True) for p in (W1, b1, W2, b2)]
loss = F.cross_entropy(network(X, *params), y)
loss.backward()
print(f"loss before training: {loss.item():.4f}  (chance: log 3 = {np.log(3):.4f})")

# %% [markdown]
# ## The same gradient by hand: from the last layer back (§3.2.3)
#
# The chain rule, one layer at a time, each step reusing what the forward pass
# computed:
#
#     ∂l/∂s  = (p − onehot(y)) / N                     the softmax and eq. 3.2 together
#     ∂l/∂W₂ = hᵀ ∂l/∂s,   ∂l/∂b₂ = Σᵢ ∂l/∂sᵢ
#     ∂l/∂h  = ∂l/∂s W₂ᵀ
#     ∂l/∂a  = ∂l/∂h ⊙ [a > 0]                         ReLU lets the gradient through where it was on
#     ∂l/∂W₁ = xᵀ ∂l/∂a,   ∂l/∂b₁ = Σᵢ ∂l/∂aᵢ

# %%
N = len(X)
a = X @ W1 + b1                      # forward, keeping what backward needs
h = np.maximum(a, 0)
s = h @ W2 + b2
p = np.exp(s - s.max(axis=1, keepdims=True))
p /= p.sum(axis=1, keepdims=True)
by_hand_loss = -np.log(p[np.arange(N), y]).mean()

g_s = (p - np.eye(K)[y]) / N         # backward, from the last layer to the first
g_W2, g_b2 = h.T @ g_s, g_s.sum(axis=0)
g_h = g_s @ W2.T
g_a = g_h * (a > 0)
g_W1, g_b1 = X.T @ g_a, g_a.sum(axis=0)

assert np.isclose(by_hand_loss, loss.item())
for name, by_hand, tensor in zip(("W1", "b1", "W2", "b2"), (g_W1, g_b1, g_W2, g_b2), params):
    assert np.allclose(by_hand, tensor.grad), name
    print(f"∂l/∂{name}: by hand and Tensor.backward agree, largest entry {np.abs(by_hand).max():.4f}")

# %% [markdown]
# `Tensor.backward` did the same thing without being told the formulas: each
# `Function` has its `backward` beside its `forward`, and the core visits them
# in reverse topological order, adding up the gradients of a tensor used twice
# (`nnscratch/core.py`, about twenty lines).
#
# ## A gradient check that passes…
#
# `gradcheck` compares every analytic gradient with central differences in
# float64, (L(θ + ε) − L(θ − ε)) / 2ε, where L weighs the output by a random
# upstream gradient so that no error can hide behind another. It raises when
# they differ: it is a test, not a printout.

# %%
small = [X[:8], W1[:, :6], b1[:6], W2[:6], b2]
assert gradcheck(lambda x, W1, b1, W2, b2: F.cross_entropy(network(x, W1, b1, W2, b2), y[:8]),
                 small)
print("gradcheck: the network's gradients match central differences")

# %% [markdown]
# ## …and one that catches a wrong backward
#
# A sigmoid whose backward forgot a factor: ∂σ/∂x = σ(1 − σ), but this one
# returns σ alone. The forward pass is right, so the loss looks fine; only the
# gradient is wrong, and only the check notices.

# %%
class WrongSigmoid(Function):
    """y = σ(x), with a wrong backward: gy · y instead of gy · y (1 − y)."""

    def forward(self, x):
        self.y = 1 / (1 + np.exp(-x))
        return self.y

    def backward(self, gy):
        return gy * self.y          # the bug: the factor (1 − y) is missing


x = rng.standard_normal((4, 3))
assert gradcheck(F.sigmoid, [x])    # the library's sigmoid passes
try:
    gradcheck(lambda t: WrongSigmoid()(t), [x])
except GradientCheckError as error:
    print("caught:", error)
else:
    raise AssertionError("the gradient checker missed a wrong backward")

# %% [markdown]
# ## Mini-batch SGD (§3.2.2)
#
# > «En nuestro modelo, usamos una variante del descenso de gradiente
# > estocástico con mini-batches.»
#
# *Our model uses a variant of stochastic gradient descent with mini-batches.*
#
# Each step takes a random batch of 32 points, computes eq. 3.2 on it,
# backpropagates, and moves θ against the gradient: θ ← θ − η ∂l/∂θ (with
# momentum 0.9, `nnscratch/optim.py`).

# %%
optimizer = SGD(params, lr=0.5, momentum=0.9)
losses = []
for step in range(1500):
    batch = rng.choice(N, 32, replace=False)
    optimizer.zero_grad()
    loss = F.cross_entropy(network(X[batch], *params), y[batch])
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
accuracy = (network(X, *params).data.argmax(axis=1) == y).mean()
print(f"training accuracy after 1500 steps: {accuracy:.1%}")
assert accuracy > 0.9

grid = np.stack(np.meshgrid(np.linspace(-1.1, 1.1, 200), np.linspace(-1.1, 1.1, 200)), -1)
regions = network(grid.reshape(-1, 2), *params).data.argmax(axis=1).reshape(200, 200)
figure, (left, right) = plt.subplots(1, 2, figsize=(9, 4))
left.plot(np.convolve(losses, np.ones(50) / 50, mode="valid"))
left.set(title="mini-batch loss (eq. 3.2), moving mean", xlabel="step", yscale="log")
right.contourf(grid[..., 0], grid[..., 1], regions, cmap="brg", alpha=0.3)
right.scatter(X[:, 0], X[:, 1], c=y, cmap="brg", s=10)
right.set_title(f"decision regions, accuracy {accuracy:.0%}")
show(figure, "training")
print(f"notebook ran in {time.perf_counter() - started:.1f} s")
