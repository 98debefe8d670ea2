"""The fused LSTM cell on the GPU (``lstm.cu``): one kernel for the gate
non-linearities and the cell update of a step, one for their gradients; the
matrix products around them stay on cuBLAS. Same inputs and outputs as
``lstm_cell_forward`` and ``lstm_gates_backward`` of ``nnscratch.functions.recurrent``
(the elementwise part of a step's backward; the products with Wh and h stay there).

Shapes: N batch, H hidden size, gates side by side in the order i, f, o, g.
"""
from ..backend import get_array_module
from . import build

SOURCE = "lstm.cu"


def lstm_cell_forward(proj, hWh, c):
    """proj = x Wx + b and hWh = h Wh (N, 4H), c (N, H) -> (h', c', gates [i f o g] (N, 4H), tanh(c'))."""
    xp = get_array_module(proj)
    proj, hWh, c = (xp.ascontiguousarray(a) for a in (proj, hWh, c))
    N, H = c.shape
    gates = xp.empty((N, 4 * H), dtype=proj.dtype)
    c_next, tanh_c, h_next = (xp.empty((N, H), dtype=proj.dtype) for _ in range(3))
    build.launch(build.compiled(SOURCE, "lstm_cell_forward", proj.dtype, "lstm"), N * H,
                 proj, hWh, c, gates, c_next, tanh_c, h_next, H)
    return h_next, c_next, gates, tanh_c


def lstm_gates_backward(gh_next, gc_next, c, gates, tanh_c):
    """∂L/∂h', ∂L/∂c' (N, H), the previous cell c and the forward's gates and tanh(c')
    -> (∂L/∂proj (N, 4H), ∂L/∂c (N, H))."""
    xp = get_array_module(gh_next)
    gh_next, gc_next, c, gates, tanh_c = (xp.ascontiguousarray(a)
                                          for a in (gh_next, gc_next, c, gates, tanh_c))
    N, H = c.shape
    g_proj = xp.empty((N, 4 * H), dtype=gh_next.dtype)
    gc = xp.empty((N, H), dtype=gh_next.dtype)
    build.launch(build.compiled(SOURCE, "lstm_gates_backward", gh_next.dtype, "lstm"), N * H,
                 gh_next, gc_next, c, gates, tanh_c, g_proj, gc, H)
    return g_proj, gc
