// Max pooling on the GPU (thesis §3.4), with the winner of each window kept
// for the backward pass.
//
// Shapes: N batch, C channels, H×W input, KH×KW window, (sh, sw) stride,
// (ph, pw) padding, OH×OW output. Window (i, j) covers the padded-frame rows
// i·sh .. i·sh + KH - 1 and columns j·sw .. j·sw + KW - 1; cells in the
// padding (or past the bottom/right edge in ceil mode) never win. argmax
// holds the winner's offset ky·KW + kx inside its window, the format of
// nnscratch/functions/pooling.py, so either backward can follow either forward.

template <typename T>
__global__ void max_pool_forward(const T* __restrict__ x, T* __restrict__ y,
                                 int* __restrict__ argmax, int H, int W, int KH, int KW,
                                 int sh, int sw, int ph, int pw, int OH, int OW, long long total)
{
    // One thread per output (N·C·OH·OW). The first of equal values wins (strict >),
    // and a NaN in the window makes the output NaN, as np.maximum does.
    for (long long index = blockIdx.x * (long long)blockDim.x + threadIdx.x; index < total;
         index += (long long)blockDim.x * gridDim.x) {
        int j = index % OW;
        long long rest = index / OW;
        int i = rest % OH;
        const T* plane = x + (rest / OH) * H * W;  // x[n, c]
        int top = i * sh - ph, left = j * sw - pw;
        T best = T(0);
        int winner = 0;
        bool found = false;
        for (int ky = 0; ky < KH; ++ky) {
            int row = top + ky;
            if (row < 0 || row >= H) continue;
            for (int kx = 0; kx < KW; ++kx) {
                int column = left + kx;
                if (column < 0 || column >= W) continue;
                T value = plane[row * W + column];
                if (!found || value > best) {
                    best = value;
                    winner = ky * KW + kx;
                    found = true;
                } else if (value != value) {
                    best = value;
                }
            }
        }
        y[index] = best;
        argmax[index] = winner;
    }
}

template <typename T>
__global__ void max_pool_backward(const T* __restrict__ gy, const int* __restrict__ argmax,
                                  T* __restrict__ gx, int H, int W, int KH, int KW,
                                  int sh, int sw, int ph, int pw, int OH, int OW, long long total)
{
    // One thread per input pixel (N·C·H·W): it sums the gradients of the
    // windows that hold it and chose it. Those are the outputs i with
    // i·sh <= row <= i·sh + KH - 1 (likewise j), visited from the last to the
    // first so that the sum runs in the order the NumPy path adds it.
    for (long long index = blockIdx.x * (long long)blockDim.x + threadIdx.x; index < total;
         index += (long long)blockDim.x * gridDim.x) {
        int column = index % W + pw;  // in the padded frame
        long long rest = index / W;
        int row = rest % H + ph;
        long long outputs = (rest / H) * OH * OW;  // gy[n, c] and argmax[n, c] start here
        int i_first = row < KH ? 0 : (row - KH) / sh + 1;
        int j_first = column < KW ? 0 : (column - KW) / sw + 1;
        int i_last = row / sh < OH ? row / sh : OH - 1;
        int j_last = column / sw < OW ? column / sw : OW - 1;
        T sum = T(0);
        for (int i = i_last; i >= i_first; --i) {
            for (int j = j_last; j >= j_first; --j) {
                long long o = outputs + i * OW + j;
                if (argmax[o] == (row - i * sh) * KW + (column - j * sw)) sum += gy[o];
            }
        }
        gx[index] = sum;
    }
}
