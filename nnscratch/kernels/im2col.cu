// im2col and col2im on the GPU: the column matrix of a convolution (thesis §3.4).
//
// Shapes: N batch, C channels, H×W image, KH×KW kernel, (sh, sw) stride,
// (ph, pw) zero padding, OH×OW output. The column matrix has the layout of
// nnscratch/functions/conv.py, one column per output pixel of every image:
//
//     cols[(c·KH + ky)·KW + kx, (n·OH + i)·OW + j] = x[n, c, i·sh + ky - ph, j·sw + kx - pw]
//
// (zero where the row or column falls in the padding). Each kernel is a
// grid-stride loop: thread `index` handles elements index, index + stride, ...
// T is float or double (the Python side asks for im2col<float> etc.).

template <typename T>
__global__ void im2col(const T* __restrict__ x, T* __restrict__ cols,
                       int N, int C, int H, int W, int KH, int KW, int sh, int sw,
                       int ph, int pw, int OH, int OW, long long total)
{
    // One thread per entry of cols (C·KH·KW·N·OH·OW of them): consecutive
    // threads write consecutive output pixels j, so the writes coalesce.
    for (long long index = blockIdx.x * (long long)blockDim.x + threadIdx.x; index < total;
         index += (long long)blockDim.x * gridDim.x) {
        int j = index % OW;
        long long rest = index / OW;
        int i = rest % OH;
        rest /= OH;
        int n = rest % N;
        rest /= N;
        int kx = rest % KW;
        rest /= KW;
        int ky = rest % KH;
        int c = rest / KH;
        int row = i * sh + ky - ph;
        int column = j * sw + kx - pw;
        bool inside = 0 <= row && row < H && 0 <= column && column < W;
        cols[index] = inside ? x[((n * (long long)C + c) * H + row) * W + column] : T(0);
    }
}

template <typename T>
__global__ void col2im(const T* __restrict__ cols, T* __restrict__ image,
                       int N, int C, int H, int W, int KH, int KW, int sh, int sw,
                       int ph, int pw, int OH, int OW, long long total)
{
    // The adjoint of im2col: one thread per image pixel (N·C·H·W), which adds
    // up every column entry copied from it. Gathering, not scattering, needs
    // no atomics, and the sum runs over (ky, kx) in the order the NumPy path
    // adds them.
    for (long long index = blockIdx.x * (long long)blockDim.x + threadIdx.x; index < total;
         index += (long long)blockDim.x * gridDim.x) {
        int column = index % W + pw;  // in the padded frame
        long long rest = index / W;
        int row = rest % H + ph;
        rest /= H;
        int c = rest % C;
        int n = rest / C;
        T sum = T(0);
        for (int ky = 0; ky < KH && ky <= row; ++ky) {
            int dy = row - ky;  // = i·sh for the output row i whose window holds this pixel
            if (dy % sh != 0 || dy / sh >= OH) continue;
            int i = dy / sh;
            for (int kx = 0; kx < KW && kx <= column; ++kx) {
                int dx = column - kx;
                if (dx % sw != 0 || dx / sw >= OW) continue;
                int j = dx / sw;
                sum += cols[((c * KH + ky) * KW + kx) * ((long long)N * OH * OW)
                            + ((long long)n * OH + i) * OW + j];
            }
        }
        image[index] = sum;
    }
}
