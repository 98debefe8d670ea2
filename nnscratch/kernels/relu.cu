// ReLU on the GPU (thesis §3.2.1, §3.4): y = max(0, x), computed as
// x · [x > 0] (so a NaN stays NaN, as in the NumPy path), with the mask
// [x > 0] written in the same pass for the backward, ∂L/∂x = G ⊙ [x > 0].

template <typename T>
__global__ void relu_forward(const T* __restrict__ x, T* __restrict__ y,
                             bool* __restrict__ mask, long long total)
{
    for (long long index = blockIdx.x * (long long)blockDim.x + threadIdx.x; index < total;
         index += (long long)blockDim.x * gridDim.x) {
        bool positive = x[index] > T(0);
        mask[index] = positive;
        y[index] = x[index] * T(positive);
    }
}
