// STREAM kernels for NVIDIA GPUs: copy, scale, add, triad, dot (McCalpin's STREAM; BabelStream's forms),
// and an L2 read kernel. Loaded by suite/gpu/session.py (hwbench.gpu.session) with cupy.RawModule; also
// compiles with plain nvcc:
//     nvcc -arch=sm_90 -c stream.cu
//
// Invariants the host code relies on (suite/gpu/stream.py, imported as hwbench.gpu.stream):
// - every array holds n_vec 16-byte vectors (double2 or float4): 16-byte loads and stores, coalesced;
// - grid-stride loops, so any grid covers the array. The block size is chosen at launch: any multiple of 32
//   up to BLOCK. The host tries the catalog's launch shapes (one vector per thread on a grid of
//   ceil(n_vec / blockDim.x) blocks, which makes one trip of the loop, or SMs x resident blocks x waves) in
//   an untimed sweep and times the fastest;
// - forms: copy c = a; scale b = s * c; add c = a + b; triad a = b + s * c; dot sum(a * b).
//   No kernel reads the array it writes, so repeating a kernel leaves the arrays as one call does.
// - dot and l2_read write one partial sum per block, to partial[blockIdx.x]; the host adds the first
//   gridDim.x partials and validates the total.

// Compile-time constants: hwbench passes them as -DNAME=value from suite/catalog.py (STREAM_CU); the
// defaults below equal the catalog's (a test checks), so plain nvcc builds the kernels hwbench runs.
#ifndef BLOCK
#define BLOCK 1024  // the most threads per block a launch may use (__launch_bounds__, block_sum's array)
#endif
#if BLOCK % 32 != 0 || BLOCK > 1024
#error "BLOCK must be a multiple of 32, at most 1024"
#endif

// The sum of ``value`` over a warp's 32 threads, valid in lane 0 (shuffles, no shared memory).
template <typename T>
__device__ T warp_sum(T value) {
    for (int offset = 16; offset > 0; offset /= 2) value += __shfl_down_sync(0xffffffffu, value, offset);
    return value;
}

// The sum of ``value`` over the block's threads, valid in thread 0, for any blockDim.x that is a multiple
// of 32 up to BLOCK: each warp reduces with shuffles, warp 0 reduces the warps' sums. The shared array of
// BLOCK / 32 sums is small enough (256 bytes of doubles) not to limit how many blocks an SM holds.
template <typename T>
__device__ T block_sum(T value) {
    __shared__ T warps[BLOCK / 32];
    const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    value = warp_sum(value);
    if (lane == 0) warps[warp] = value;
    __syncthreads();
    if (warp != 0) return value;  // only thread 0's result is used
    value = lane < blockDim.x / 32 ? warps[lane] : T(0);
    return warp_sum(value);
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
