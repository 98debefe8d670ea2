// Inverted dropout on the GPU (thesis §3.4; Srivastava et al. 2014).
//
// With u uniform in [0, 1) (drawn by cupy.random, or given), each unit is
// kept when u >= p and then scaled by 1 / (1 - p):
//
//     mask = [u >= p] / (1 - p),   y = x ⊙ mask,   ∂L/∂x = G ⊙ mask
//
// The kernel writes y and the mask in one pass; the backward product is a
// single elementwise multiply that CuPy already does in one kernel.

template <typename T>
__global__ void dropout_forward(const T* __restrict__ x, const double* __restrict__ uniform,
                                T* __restrict__ y, T* __restrict__ mask, double p, T scale,
                                long long total)
{
    // scale = 1 / (1 - p), rounded to T once on the host, as the NumPy path does.
    for (long long index = blockIdx.x * (long long)blockDim.x + threadIdx.x; index < total;
         index += (long long)blockDim.x * gridDim.x) {
        T kept = uniform[index] >= p ? scale : T(0);
        mask[index] = kept;
        y[index] = x[index] * kept;
    }
}
