"""Recurrent networks (thesis §3.5): the vanilla RNN of eq. 3.5 and the LSTM.

Shapes: N batch, T time steps, D input size, H hidden size; G = H for the
RNN and 4H for the LSTM (its four gates side by side, in the order i, f, o, g).

    RNN  (eq. 3.5)  h_t = f(x_t Wx + h_{t-1} Wh + b),  f = tanh or ReLU
                    (the thesis uses ReLU for its sentence encoder)
    LSTM            [a_i a_f a_o a_g] = x_t Wx + h_{t-1} Wh + b
                    i, f, o = σ(a_i), σ(a_f), σ(a_o);  g = tanh(a_g)
                    c_t = f ⊙ c_{t-1} + i ⊙ g;  h_t = o ⊙ tanh(c_t)

The model math is written once, in the array-level cell functions below
(``rnn_cell_forward``/``_backward``, ``lstm_cell_forward``/``_backward``).
They take the input projection ``x_t Wx + b`` already computed. The step
Functions (one time step, used by decoding) compute it for one step; the
sequence Functions compute it for all T steps in one matrix product, run the
cells forward, and backpropagate through time (BPTT) through the same cells'
elementwise parts (``rnn_activation_backward``, ``lstm_gates_backward``),
keeping only h·Wh and its gradient inside the time loop: dWh, and dx, dWx
and db from the projection's gradient, are each one product at the end.
Initial states h0 (and c0) may be None: zeros, as h_0 = 0 in eq. 3.5.
"""
from .. import kernels
from ..backend import get_array_module
from ..core import Function, as_tensor
from ..products import matmul
from .linear import affine

ACTIVATIONS = ("tanh", "relu")


# -- the input projection x Wx + b, shared by every Function here -----------

def input_projection(x, Wx, b):
    """x (M, D), Wx (D, G), b (G,) -> x Wx + b (M, G); M = N, or T·N for a sequence."""
    return affine(x, Wx, b)


def input_projection_backward(g_proj, x, Wx):
    """The gradients of x Wx + b given G = ∂L/∂(x Wx + b): (G Wxᵀ, xᵀ G, Σ_m G_m)."""
    return matmul(g_proj, Wx.T), matmul(x.T, g_proj), g_proj.sum(axis=0)


# -- one cell of the vanilla RNN (eq. 3.5) ----------------------------------

def rnn_cell_forward(proj, h, Wh, activation):
    """h' = f(proj + h Wh), with proj = x Wx + b (N, H) and h (N, H)."""
    xp = get_array_module(proj)
    a = proj + h @ Wh
    return xp.tanh(a) if activation == "tanh" else xp.maximum(a, 0)


def rnn_activation_backward(gh_next, h_next, activation):
    """∂L/∂a = ∂L/∂h' ⊙ f'(a) for a = proj + h Wh, with f'(a) written with the
    output h' = f(a): 1 - h'² for tanh, [h' > 0] for ReLU."""
    slope = 1 - h_next * h_next if activation == "tanh" else h_next > 0
    return gh_next * slope


def rnn_cell_backward(gh_next, h, h_next, Wh, activation):
    """Given ∂L/∂h', return (∂L/∂proj, ∂L/∂h, ∂L/∂Wh) of one cell."""
    g_a = rnn_activation_backward(gh_next, h_next, activation)
    return g_a, g_a @ Wh.T, h.T @ g_a


# -- one cell of the LSTM ---------------------------------------------------

def _split_gates(gates):
    """(N, 4H) -> the four (N, H) blocks i, f, o, g (views)."""
    H = gates.shape[-1] // 4
    return gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]


def lstm_cell_forward(proj, h, c, Wh):
    """One LSTM step from proj = x Wx + b (N, 4H), h (N, H), c (N, H).

    Returns h' (N, H), c' (N, H) and what the backward needs: the gate
    values [i f o g] (N, 4H) and tanh(c') (N, H).
    """
    if kernels.on_gpu(proj):  # gates and cell update in one kernel: nnscratch/kernels/lstm.cu
        return kernels.lstm_cell_forward(proj, h @ Wh, c)
    xp = get_array_module(proj)
    H = h.shape[1]
    gates = h @ Wh
    gates += proj
    sigma = gates[:, :3 * H]  # σ(a) = ½ tanh(a / 2) + ½ (no overflow), in place
    sigma *= 0.5
    xp.tanh(sigma, out=sigma)
    sigma *= 0.5
    sigma += 0.5
    xp.tanh(gates[:, 3 * H:], out=gates[:, 3 * H:])
    i, f, o, g = _split_gates(gates)
    c_next = f * c
    c_next += i * g
    tanh_c = xp.tanh(c_next)
    return o * tanh_c, c_next, gates, tanh_c


def lstm_gates_backward(gh_next, gc_next, c, gates, tanh_c):
    """Given ∂L/∂h' and ∂L/∂c', return (∂L/∂proj (N, 4H), ∂L/∂c (N, H)) of one step:
    the elementwise part of the backward, before the products with Wh and h.

    ∂L/∂c' gathers both paths: the direct one and the one through h' = o ⊙ tanh(c').
    Each gate's pre-activation gradient uses σ' = σ(1 - σ) and tanh' = 1 - tanh²;
    they are written straight into their blocks of ∂L/∂proj.
    """
    if kernels.on_gpu(gh_next):  # one kernel: nnscratch/kernels/lstm.cu
        return kernels.lstm_gates_backward(gh_next, gc_next, c, gates, tanh_c)
    xp = get_array_module(gh_next)
    i, f, o, g = _split_gates(gates)
    gc = gh_next * o * (1 - tanh_c * tanh_c)
    gc += gc_next
    g_proj = xp.empty_like(gates)
    g_i, g_f, g_o, g_g = _split_gates(g_proj)
    xp.multiply(gc * g, i * (1 - i), out=g_i)
    xp.multiply(gc * c, f * (1 - f), out=g_f)
    xp.multiply(gh_next * tanh_c, o * (1 - o), out=g_o)
    xp.multiply(gc * i, 1 - g * g, out=g_g)
    return g_proj, gc * f


def lstm_cell_backward(gh_next, gc_next, h, c, gates, tanh_c, Wh):
    """Given ∂L/∂h' and ∂L/∂c', return (∂L/∂proj, ∂L/∂h, ∂L/∂c, ∂L/∂Wh) of one step."""
    g_proj, gc = lstm_gates_backward(gh_next, gc_next, c, gates, tanh_c)
    return g_proj, g_proj @ Wh.T, gc, h.T @ g_proj


# -- shape checks and initial states ----------------------------------------

def _check_shapes(op, x, states, Wx, Wh, b, gates, x_ndim):
    """Raise a ValueError naming ``op`` and every shape unless they fit.

    ``states`` maps names ("h", "c0", ...) to arrays that must be (N, H);
    ``gates`` is 1 (RNN) or 4 (LSTM).
    """
    H = Wh.shape[0] if Wh.ndim == 2 else -1
    N, D = (x.shape[0], x.shape[-1]) if x.ndim else (-1, -1)
    G = gates * H
    if (x.ndim == x_ndim and Wh.shape == (H, G) and Wx.shape == (D, G) and b.shape == (G,)
            and all(s.shape == (N, H) for s in states.values())):
        return
    width = "H" if gates == 1 else f"{gates}H"
    need = ", ".join(f"{name} (N, H)" for name in states)
    got = ", ".join(f"{name} {s.shape}" for name, s in states.items())
    x_need = "(N, T, D)" if x_ndim == 3 else "(N, D)"
    raise ValueError(f"{op}: shapes do not fit: x {x.shape}, {got}, Wx {Wx.shape}, Wh {Wh.shape}, "
                     f"b {b.shape}; need x {x_need}, {need}, Wx (D, {width}), Wh (H, {width}), "
                     f"b ({width},)")


def _check_activation(op, activation):
    if activation not in ACTIVATIONS:
        raise ValueError(f"{op}: activation must be one of {ACTIVATIONS}, got {activation!r}")


def _zero_state(state, x, Wh):
    """``state``, or zeros (N, H) in x's dtype when it is None (h_0 = 0, eq. 3.5)."""
    if state is not None:
        return state
    x, Wh = as_tensor(x).data, as_tensor(Wh).data
    return get_array_module(x).zeros((x.shape[0], Wh.shape[0]), x.dtype)


# -- one time step (used by decoding) ---------------------------------------

class RNNStep(Function):
    """x (N, D), h (N, H), Wx (D, H), Wh (H, H), b (H,) -> h' (N, H) = f(x Wx + h Wh + b)."""

    def __init__(self, activation="tanh"):
        _check_activation("rnn_step", activation)
        self.activation = activation

    def forward(self, x, h, Wx, Wh, b):
        _check_shapes("rnn_step", x, {"h": h}, Wx, Wh, b, gates=1, x_ndim=2)
        self.x, self.h, self.Wx, self.Wh = x, h, Wx, Wh
        self.h_next = rnn_cell_forward(input_projection(x, Wx, b), h, Wh, self.activation)
        return self.h_next

    def backward(self, gh_next):
        g_proj, gh, gWh = rnn_cell_backward(gh_next, self.h, self.h_next, self.Wh, self.activation)
        gx, gWx, gb = input_projection_backward(g_proj, self.x, self.Wx)
        return gx, gh, gWx, gWh, gb


class LSTMStep(Function):
    """x (N, D), h (N, H), c (N, H), Wx (D, 4H), Wh (H, 4H), b (4H,) -> (h', c')."""

    def forward(self, x, h, c, Wx, Wh, b):
        _check_shapes("lstm_step", x, {"h": h, "c": c}, Wx, Wh, b, gates=4, x_ndim=2)
        h_next, c_next, self.gates, self.tanh_c = lstm_cell_forward(
            input_projection(x, Wx, b), h, c, Wh)
        self.x, self.h, self.c, self.Wx, self.Wh = x, h, c, Wx, Wh
        return h_next, c_next

    def backward(self, gh_next, gc_next):
        g_proj, gh, gc, gWh = lstm_cell_backward(gh_next, gc_next, self.h, self.c,
                                                 self.gates, self.tanh_c, self.Wh)
        gx, gWx, gb = input_projection_backward(g_proj, self.x, self.Wx)
        return gx, gh, gc, gWx, gWh, gb


def rnn_step(x, h, Wx, Wh, b, activation="tanh"):
    """One step of eq. 3.5: h' = f(x Wx + h Wh + b); x (N, D), h (N, H) or None (zeros)."""
    return RNNStep(activation)(x, _zero_state(h, x, Wh), Wx, Wh, b)


def lstm_step(x, h, c, Wx, Wh, b):
    """One LSTM step (gate order i, f, o, g) -> (h', c'); h, c (N, H) or None (zeros)."""
    return LSTMStep()(x, _zero_state(h, x, Wh), _zero_state(c, x, Wh), Wx, Wh, b)


# -- whole sequences, with backpropagation through time ----------------------

def _projection_steps(x, Wx, b):
    """x (N, T, D) -> (x as (T, N, D), its projection (T, N, G)), in one matrix product."""
    N, T, D = x.shape
    x_steps = x.transpose(1, 0, 2).reshape(T * N, D)  # time-major: step t is a contiguous block
    return x_steps, input_projection(x_steps, Wx, b).reshape(T, N, Wx.shape[1])


def _projection_steps_backward(g_proj, x_steps, Wx):
    """(T, N, G) gradient of the projection -> (∂L/∂x (N, T, D), ∂L/∂Wx, ∂L/∂b)."""
    T, N, G = g_proj.shape
    gx, gWx, gb = input_projection_backward(g_proj.reshape(T * N, G), x_steps, Wx)
    return gx.reshape(T, N, Wx.shape[0]).transpose(1, 0, 2), gWx, gb


def _recurrent_weight_gradient(hs, g_proj):
    """∂L/∂Wh = Σ_t h_{t-1}ᵀ G_t from hs = [h_0 .. h_{T-1}] and G (T, N, G), in one product."""
    xp = get_array_module(g_proj)
    T, N, G = g_proj.shape
    return matmul(xp.stack(hs).reshape(T * N, -1).T, g_proj.reshape(T * N, G))


class RNN(Function):
    """x (N, T, D), h0 (N, H), Wx (D, H), Wh (H, H), b (H,) -> h (N, T, H) (eq. 3.5)."""

    def __init__(self, activation="tanh"):
        _check_activation("rnn", activation)
        self.activation = activation

    def forward(self, x, h0, Wx, Wh, b):
        _check_shapes("rnn", x, {"h0": h0}, Wx, Wh, b, gates=1, x_ndim=3)
        xp = get_array_module(x)
        self.x_steps, proj = _projection_steps(x, Wx, b)
        self.hs = [h0]  # hs[t] is h_t
        for t in range(len(proj)):
            self.hs.append(rnn_cell_forward(proj[t], self.hs[t], Wh, self.activation))
        self.Wx, self.Wh = Wx, Wh
        return xp.stack(self.hs[1:], axis=1)

    def backward(self, gh_seq):
        xp = get_array_module(gh_seq)
        T = len(self.hs) - 1
        g_proj = xp.empty((T,) + self.hs[0].shape, gh_seq.dtype)
        gh = xp.zeros_like(self.hs[0])
        for t in reversed(range(T)):
            g_proj[t] = rnn_activation_backward(gh + gh_seq[:, t], self.hs[t + 1], self.activation)
            gh = g_proj[t] @ self.Wh.T
        gWh = _recurrent_weight_gradient(self.hs[:-1], g_proj)
        gx, gWx, gb = _projection_steps_backward(g_proj, self.x_steps, self.Wx)
        return gx, gh, gWx, gWh, gb


class LSTM(Function):
    """x (N, T, D), h0, c0 (N, H), Wx (D, 4H), Wh (H, 4H), b (4H,) -> h (N, T, H)."""

    def forward(self, x, h0, c0, Wx, Wh, b):
        _check_shapes("lstm", x, {"h0": h0, "c0": c0}, Wx, Wh, b, gates=4, x_ndim=3)
        xp = get_array_module(x)
        self.x_steps, proj = _projection_steps(x, Wx, b)
        # hs[t], cs[t] are h_t, c_t (index 0: h0, c0); gates[t], tanh_cs[t] belong to step t + 1
        self.hs, self.cs, self.gates, self.tanh_cs = [h0], [c0], [], []
        for t in range(len(proj)):
            h, c, gates, tanh_c = lstm_cell_forward(proj[t], self.hs[t], self.cs[t], Wh)
            self.hs.append(h), self.cs.append(c)
            self.gates.append(gates), self.tanh_cs.append(tanh_c)
        self.Wx, self.Wh = Wx, Wh
        return xp.stack(self.hs[1:], axis=1)

    def backward(self, gh_seq):
        xp = get_array_module(gh_seq)
        T = len(self.gates)
        g_proj = xp.empty((T,) + self.gates[0].shape, gh_seq.dtype)
        gh, gc = xp.zeros_like(self.hs[0]), xp.zeros_like(self.cs[0])
        for t in reversed(range(T)):
            g_proj[t], gc = lstm_gates_backward(gh + gh_seq[:, t], gc, self.cs[t],
                                                self.gates[t], self.tanh_cs[t])
            gh = g_proj[t] @ self.Wh.T
        gWh = _recurrent_weight_gradient(self.hs[:-1], g_proj)
        gx, gWx, gb = _projection_steps_backward(g_proj, self.x_steps, self.Wx)
        return gx, gh, gc, gWx, gWh, gb


def rnn(x, h0, Wx, Wh, b, activation="tanh"):
    """The RNN of eq. 3.5 over a sequence: x (N, T, D) -> every hidden state h (N, T, H).

    h0 (N, H), or None for zeros; activation "tanh" or "relu" (the thesis's choice).
    """
    return RNN(activation)(x, _zero_state(h0, x, Wh), Wx, Wh, b)


def lstm(x, h0, c0, Wx, Wh, b):
    """An LSTM over a sequence (gate order i, f, o, g): x (N, T, D) -> h (N, T, H).

    h0, c0 (N, H), or None for zeros. The cell states are not returned; use
    ``lstm_step`` to carry them across calls (decoding).
    """
    return LSTM()(x, _zero_state(h0, x, Wh), _zero_state(c0, x, Wh), Wx, Wh, b)
