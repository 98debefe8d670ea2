// One LSTM step on the GPU (thesis §3.5): the gate non-linearities and the
// cell update fused in one kernel; the matrix products stay on cuBLAS.
//
// Shapes: N batch, H hidden size; gate blocks side by side in the order
// i, f, o, g, so row n of an (N, 4H) array holds a_i, a_f, a_o, a_g.
//
//     i, f, o = σ(a_i), σ(a_f), σ(a_o);  g = tanh(a_g)
//     c' = f ⊙ c + i ⊙ g;  h' = o ⊙ tanh(c')
//
// with σ(a) = (1 + tanh(a/2)) / 2, the overflow-free form the NumPy path uses.

__device__ __forceinline__ float tanh_of(float a) { return tanhf(a); }
__device__ __forceinline__ double tanh_of(double a) { return tanh(a); }

template <typename T>
__device__ __forceinline__ T sigmoid_of(T a)
{
    return T(0.5) * tanh_of(T(0.5) * a) + T(0.5);
}

template <typename T>
__global__ void lstm_cell_forward(const T* __restrict__ proj, const T* __restrict__ hWh,
                                  const T* __restrict__ c, T* __restrict__ gates,
                                  T* __restrict__ c_next, T* __restrict__ tanh_c,
                                  T* __restrict__ h_next, int H, long long total)
{
    // One thread per unit (n, k), N·H of them. proj = x Wx + b and hWh = h Wh
    // are (N, 4H); their sum is the pre-activation. gates receives the four
    // activated gates (N, 4H), which the backward pass reads.
    for (long long index = blockIdx.x * (long long)blockDim.x + threadIdx.x; index < total;
         index += (long long)blockDim.x * gridDim.x) {
        long long a = (index / H) * 4 * H + index % H;  // a_i of unit (n, k)
        T i = sigmoid_of(proj[a] + hWh[a]);
        T f = sigmoid_of(proj[a + H] + hWh[a + H]);
        T o = sigmoid_of(proj[a + 2 * H] + hWh[a + 2 * H]);
        T g = tanh_of(proj[a + 3 * H] + hWh[a + 3 * H]);
        T cell = f * c[index] + i * g;
        T squashed = tanh_of(cell);
        gates[a] = i;
        gates[a + H] = f;
        gates[a + 2 * H] = o;
        gates[a + 3 * H] = g;
        c_next[index] = cell;
        tanh_c[index] = squashed;
        h_next[index] = o * squashed;
    }
}

template <typename T>
__global__ void lstm_gates_backward(const T* __restrict__ gh_next, const T* __restrict__ gc_next,
                                    const T* __restrict__ c, const T* __restrict__ gates,
                                    const T* __restrict__ tanh_c, T* __restrict__ g_proj,
                                    T* __restrict__ gc, int H, long long total)
{
    // Given ∂L/∂h' and ∂L/∂c' (N, H), the gradient of the pre-activations
    // (N, 4H) and ∂L/∂c = ∂L/∂c'_total ⊙ f, where ∂L/∂c'_total adds the path
    // through h' = o ⊙ tanh(c'); σ' = σ(1 - σ), tanh' = 1 - tanh².
    for (long long index = blockIdx.x * (long long)blockDim.x + threadIdx.x; index < total;
         index += (long long)blockDim.x * gridDim.x) {
        long long a = (index / H) * 4 * H + index % H;
        T i = gates[a], f = gates[a + H], o = gates[a + 2 * H], g = gates[a + 3 * H];
        T squashed = tanh_c[index];
        T gh = gh_next[index];
        T g_cell = gc_next[index] + gh * o * (T(1) - squashed * squashed);
        g_proj[a] = g_cell * g * i * (T(1) - i);
        g_proj[a + H] = g_cell * c[index] * f * (T(1) - f);
        g_proj[a + 2 * H] = gh * squashed * o * (T(1) - o);
        g_proj[a + 3 * H] = g_cell * i * (T(1) - g * g);
        gc[index] = g_cell * f;
    }
}
