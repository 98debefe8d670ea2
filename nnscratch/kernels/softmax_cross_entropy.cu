// Softmax cross-entropy with a mask on the GPU (eq. 3.2 of the thesis, §3.7).
//
// Shapes: P positions (every leading axis of the logits flattened, N or N·T),
// V classes. For position p with target y_p and weight m_p (the mask, 0 or 1):
//
//     log Z_p = max_v x_pv + log Σ_v exp(x_pv - max_v x_pv)
//     term_p  = -m_p (x_{p, y_p} - log Z_p)              (the loss is Σ term / Σ m)
//     ∂L/∂x_pv = (exp(x_pv - log Z_p) - [v = y_p]) · m_p · scale,   scale = G / Σ m
//
// The forward keeps log Z_p (P numbers) instead of the (P, V) probabilities;
// the backward recomputes each probability from it.

// The largest block the forward may be launched with (a power of two).
#define MAX_THREADS 256

__device__ __forceinline__ float exp_of(float a) { return expf(a); }
__device__ __forceinline__ double exp_of(double a) { return exp(a); }
__device__ __forceinline__ float log_of(float a) { return logf(a); }
__device__ __forceinline__ double log_of(double a) { return log(a); }

template <typename T>
__device__ T block_reduce(T value, T* shared, bool maximum)
{
    // Tree reduction of one value per thread over the block (blockDim.x a
    // power of two): the maximum, or the sum. Every thread gets the result.
    shared[threadIdx.x] = value;
    __syncthreads();
    for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
        if (threadIdx.x < half) {
            T other = shared[threadIdx.x + half];
            T mine = shared[threadIdx.x];
            shared[threadIdx.x] = maximum ? (other > mine ? other : mine) : mine + other;
        }
        __syncthreads();
    }
    T result = shared[0];
    __syncthreads();  // everyone has read shared[0] before it is reused
    return result;
}

template <typename T>
__global__ void softmax_cross_entropy_forward(const T* __restrict__ logits,
                                              const long long* __restrict__ targets,
                                              const T* __restrict__ weight,
                                              T* __restrict__ terms, T* __restrict__ log_z, int V)
{
    // One block per position p (blockIdx.x); its threads stride over the V logits.
    __shared__ T shared[MAX_THREADS];
    long long p = blockIdx.x;
    const T* x = logits + p * V;
    T largest = x[0];
    for (int v = threadIdx.x; v < V; v += blockDim.x) largest = x[v] > largest ? x[v] : largest;
    largest = block_reduce(largest, shared, true);
    T total = T(0);
    for (int v = threadIdx.x; v < V; v += blockDim.x) total += exp_of(x[v] - largest);
    total = block_reduce(total, shared, false);
    if (threadIdx.x == 0) {
        T log_norm = largest + log_of(total);
        log_z[p] = log_norm;
        terms[p] = -weight[p] * (x[targets[p]] - log_norm);
    }
}

template <typename T>
__global__ void softmax_cross_entropy_backward(const T* __restrict__ logits,
                                               const T* __restrict__ log_z,
                                               const long long* __restrict__ targets,
                                               const T* __restrict__ weight,
                                               const T* __restrict__ scale,
                                               T* __restrict__ g_logits, int V, long long total)
{
    // One thread per logit (P·V); scale points to one number, G / Σ m, so that
    // the upstream gradient never has to be copied to the host.
    for (long long index = blockIdx.x * (long long)blockDim.x + threadIdx.x; index < total;
         index += (long long)blockDim.x * gridDim.x) {
        long long p = index / V;
        T probability = exp_of(logits[index] - log_z[p]);
        T target = index % V == targets[p] ? T(1) : T(0);
        g_logits[index] = (probability - target) * (weight[p] * scale[0]);
    }
}
