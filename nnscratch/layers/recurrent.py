"""Recurrent layers (thesis §3.5): the vanilla RNN and the LSTM.

Shapes: N batch, T time steps, D input features, H hidden units. Each layer
holds Wx (D, ·), Wh (H, ·) and b, runs a whole sequence with ``F.rnn`` /
``F.lstm`` in ``forward``, and one step with ``F.rnn_step`` / ``F.lstm_step``
in ``step``; the decoder calls ``step``, so training and generation share the
same math. A state given as None starts at zero (h_0 = 0, c_0 = 0).
"""
import numpy as np

from .. import functional as F
from .init import default_rng, xavier_uniform
from .module import Module, Parameter


class RNN(Module):
    """h_t = act(x_t Wx + h_{t-1} Wh + b), act = tanh or relu (thesis eq. 3.5).

    Wx (D, H), Wh (H, H) Xavier-uniform initialised (see ``init.py``), drawn
    from ``rng`` (a NumPy Generator; None: a fresh one); b (H,) zero; float32.
    """

    def __init__(self, input_size, hidden_size, activation="tanh", rng=None):
        super().__init__()
        if activation not in ("tanh", "relu"):
            raise ValueError(f"RNN: activation must be 'tanh' or 'relu', got {activation!r}")
        rng = default_rng(rng)
        self.hidden_size, self.activation = hidden_size, activation
        D, H = input_size, hidden_size
        self.Wx = Parameter(xavier_uniform((D, H), D, H, rng))
        self.Wh = Parameter(xavier_uniform((H, H), H, H, rng))
        self.b = Parameter(np.zeros(H, np.float32))

    def forward(self, x, h0=None):
        """x (N, T, D), h0 (N, H) or None (zeros) -> every hidden state h (N, T, H)."""
        return F.rnn(x, h0, self.Wx, self.Wh, self.b, activation=self.activation)

    def step(self, x_t, h=None):
        """One time step: x_t (N, D), h (N, H) or None (zeros) -> the next h (N, H)."""
        return F.rnn_step(x_t, h, self.Wx, self.Wh, self.b, activation=self.activation)

    def extra_repr(self):
        return f"{self.Wx.shape[0]}, {self.hidden_size}, activation={self.activation!r}"


class LSTM(Module):
    """The LSTM of thesis §3.5 (Hochreiter & Schmidhuber 1997), gate order i, f, o, g:

        [a_i, a_f, a_o, a_g] = x_t Wx + h_{t-1} Wh + b
        c_t = σ(a_f) ⊙ c_{t-1} + σ(a_i) ⊙ tanh(a_g),   h_t = σ(a_o) ⊙ tanh(c_t)

    Wx (D, 4H), Wh (H, 4H), b (4H,). Each gate's block of Wx and Wh is
    Xavier-uniform initialised with fans (D, H) and (H, H) (see ``init.py``),
    drawn from ``rng`` (a NumPy Generator; None: a fresh one). The bias is zero
    except the forget gate's, b[H:2H] = 1, so that at the start of training
    the cell keeps its memory and gradients flow back through many steps
    (Gers et al. 2000; Jozefowicz et al. 2015). float32.
    """

    def __init__(self, input_size, hidden_size, rng=None):
        super().__init__()
        rng = default_rng(rng)
        self.hidden_size = hidden_size
        D, H = input_size, hidden_size
        self.Wx = Parameter(np.concatenate(
            [xavier_uniform((D, H), D, H, rng) for _ in range(4)], axis=1))
        self.Wh = Parameter(np.concatenate(
            [xavier_uniform((H, H), H, H, rng) for _ in range(4)], axis=1))
        b = np.zeros(4 * H, np.float32)
        b[H:2 * H] = 1.0  # forget gate
        self.b = Parameter(b)

    def forward(self, x, h0=None, c0=None):
        """x (N, T, D), h0 and c0 (N, H) or None (zeros) -> every hidden state h (N, T, H)."""
        return F.lstm(x, h0, c0, self.Wx, self.Wh, self.b)

    def step(self, x_t, h=None, c=None):
        """One time step: x_t (N, D), h and c (N, H) or None (zeros) -> (h, c), each (N, H)."""
        return F.lstm_step(x_t, h, c, self.Wx, self.Wh, self.b)

    def extra_repr(self):
        return f"{self.Wx.shape[0]}, {self.hidden_size}"
