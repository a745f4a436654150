// STREAM kernels for NVIDIA GPUs: copy, scale, add, triad, dot (McCalpin's STREAM; BabelStream's forms),
// and an L2 read kernel. Loaded by hwbench with cupy.RawModule; also compiles with plain nvcc:
//     nvcc -arch=sm_90 -c stream.cu
//
// Invariants the host code relies on (hwbench/gpu_runner.py):
// - every array holds n_vec 16-byte vectors (double2 or float4): 16-byte loads and stores, coalesced;
// - grid-stride loops, so any grid covers the array; the host launches SMs x (resident blocks per SM);
// - forms: copy c = a; scale b = s * c; add c = a + b; triad a = b + s * c; dot sum(a * b).
//   No kernel reads the array it writes, so repeating a kernel leaves the arrays as one call does.
// - dot and l2_read write one partial sum per block (BLOCK threads reduced in shared memory); the host
//   adds the partials and validates the total.

#define BLOCK 256

// The sum of ``value`` over the block's threads, valid in thread 0 (tree reduction in shared memory).
template <typename T>
__device__ T block_sum(T value) {
    __shared__ T sums[BLOCK];
    sums[threadIdx.x] = value;
    for (int half = BLOCK / 2; half > 0; half /= 2) {
        __syncthreads();
        if (threadIdx.x < half) sums[threadIdx.x] += sums[threadIdx.x + half];
    }
    return sums[0];
}

#define GRID_STRIDE_LOOP(i, n) \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (long long)blockDim.x * gridDim.x)

#define STREAM_KERNELS(T, V, SUFFIX)                                                                      \
extern "C" __global__ void __launch_bounds__(BLOCK)                                                       \
copy_##SUFFIX(const V* __restrict__ a, V* __restrict__ b, V* __restrict__ c, T scalar, long long n_vec) { \
    GRID_STRIDE_LOOP(i, n_vec) c[i] = a[i];                                                               \
}                                                                                                         \
extern "C" __global__ void __launch_bounds__(BLOCK)                                                       \
scale_##SUFFIX(const V* __restrict__ a, V* __restrict__ b, V* __restrict__ c, T scalar, long long n_vec) {\
    GRID_STRIDE_LOOP(i, n_vec) { V x = c[i]; b[i] = SCALE(scalar, x); }                                  \
}                                                                                                         \
extern "C" __global__ void __launch_bounds__(BLOCK)                                                       \
add_##SUFFIX(const V* __restrict__ a, V* __restrict__ b, V* __restrict__ c, T scalar, long long n_vec) {  \
    GRID_STRIDE_LOOP(i, n_vec) { V x = a[i], y = b[i]; c[i] = ADD(x, y); }                               \
}                                                                                                         \
extern "C" __global__ void __launch_bounds__(BLOCK)                                                       \
triad_##SUFFIX(V* __restrict__ a, const V* __restrict__ b, const V* __restrict__ c, T scalar,            \
               long long n_vec) {                                                                         \
    GRID_STRIDE_LOOP(i, n_vec) { V x = b[i], y = c[i]; a[i] = TRIAD(x, scalar, y); }                     \
}                                                                                                         \
extern "C" __global__ void __launch_bounds__(BLOCK)                                                       \
dot_##SUFFIX(const V* __restrict__ a, const V* __restrict__ b, T* __restrict__ partial, long long n_vec) { \
    T sum = 0;                                                                                            \
    GRID_STRIDE_LOOP(i, n_vec) { V x = a[i], y = b[i]; sum += DOT(x, y); }                               \
    T total = block_sum(sum);                                                                             \
    if (threadIdx.x == 0) partial[blockIdx.x] = total;                                                    \
}                                                                                                         \
extern "C" __global__ void __launch_bounds__(BLOCK)                                                       \
l2_read_##SUFFIX(const V* __restrict__ a, T* __restrict__ partial, long long n_vec, int passes) {         \
    T sum = 0;                                                                                            \
    for (int pass = 0; pass < passes; ++pass) {                                                           \
        GRID_STRIDE_LOOP(i, n_vec) { V x = a[i]; sum += HSUM(x); }                                       \
    }                                                                                                     \
    T total = block_sum(sum);                                                                             \
    if (threadIdx.x == 0) partial[blockIdx.x] = total;                                                    \
}

// fp64: double2 (16 bytes, two elements per vector)
#define SCALE(s, x) make_double2((s) * (x).x, (s) * (x).y)
#define ADD(x, y) make_double2((x).x + (y).x, (x).y + (y).y)
#define TRIAD(x, s, y) make_double2((x).x + (s) * (y).x, (x).y + (s) * (y).y)
#define DOT(x, y) ((x).x * (y).x + (x).y * (y).y)
#define HSUM(x) ((x).x + (x).y)
STREAM_KERNELS(double, double2, f64)
#undef SCALE
#undef ADD
#undef TRIAD
#undef DOT
#undef HSUM

// fp32: float4 (16 bytes, four elements per vector)
#define SCALE(s, x) make_float4((s) * (x).x, (s) * (x).y, (s) * (x).z, (s) * (x).w)
#define ADD(x, y) make_float4((x).x + (y).x, (x).y + (y).y, (x).z + (y).z, (x).w + (y).w)
#define TRIAD(x, s, y) make_float4((x).x + (s) * (y).x, (x).y + (s) * (y).y, (x).z + (s) * (y).z, \
                                   (x).w + (s) * (y).w)
#define DOT(x, y) ((x).x * (y).x + (x).y * (y).y + (x).z * (y).z + (x).w * (y).w)
#define HSUM(x) ((x).x + (x).y + (x).z + (x).w)
STREAM_KERNELS(float, float4, f32)
