"""The RNN and LSTM written as plain loops over batch, time and units (forward only).

Written straight from the equations (eq. 3.5 of the thesis; the LSTM of
§3.5), one number at a time, as a student would: slow, and obviously right.
The tests hold the fast ``nnscratch.functional.rnn`` and ``lstm`` to these.
Shapes as there: x (N, T, D), h0 and c0 (N, H) or None (zeros), Wx (D, G),
Wh (H, G), b (G,), with G = H for the RNN and 4H for the LSTM (gates i, f, o, g).
Inputs are NumPy arrays; the result is float64 (N, T, H).
"""
import math

import numpy as np


def _sigmoid(a):
    return 1.0 / (1.0 + math.exp(-a))


def _pre_activation(x_t, h, Wx, Wh, b, column):
    """b_j + Σ_d x_d Wx[d, j] + Σ_k h_k Wh[k, j] for one column j."""
    total = b[column]
    for d in range(len(x_t)):
        total += x_t[d] * Wx[d, column]
    for k in range(len(h)):
        total += h[k] * Wh[k, column]
    return total


def rnn_loops(x, h0, Wx, Wh, b, activation="tanh"):
    """h_t = f(x_t Wx + h_{t-1} Wh + b), f = tanh or relu, for each sentence and step."""
    N, T, _ = x.shape
    H = Wh.shape[0]
    f = math.tanh if activation == "tanh" else (lambda a: max(a, 0.0))
    out = np.zeros((N, T, H))
    for n in range(N):
        h = [0.0] * H if h0 is None else [float(v) for v in h0[n]]
        for t in range(T):
            h = [f(_pre_activation(x[n, t], h, Wx, Wh, b, j)) for j in range(H)]
            out[n, t] = h
    return out


def lstm_loops(x, h0, c0, Wx, Wh, b):
    """c_t = f ⊙ c_{t-1} + i ⊙ g, h_t = o ⊙ tanh(c_t), unit by unit (gate columns j, H+j, 2H+j, 3H+j)."""
    N, T, _ = x.shape
    H = Wh.shape[0]
    out = np.zeros((N, T, H))
    for n in range(N):
        h = [0.0] * H if h0 is None else [float(v) for v in h0[n]]
        c = [0.0] * H if c0 is None else [float(v) for v in c0[n]]
        for t in range(T):
            new_h, new_c = [], []
            for j in range(H):
                i = _sigmoid(_pre_activation(x[n, t], h, Wx, Wh, b, j))
                f = _sigmoid(_pre_activation(x[n, t], h, Wx, Wh, b, H + j))
                o = _sigmoid(_pre_activation(x[n, t], h, Wx, Wh, b, 2 * H + j))
                g = math.tanh(_pre_activation(x[n, t], h, Wx, Wh, b, 3 * H + j))
                new_c.append(f * c[j] + i * g)
                new_h.append(o * math.tanh(new_c[j]))
            h, c = new_h, new_c
            out[n, t] = h
    return out
