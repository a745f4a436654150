// FMA-peak kernels for NVIDIA GPUs: fp64, fp32, fp16 (packed half2) and bf16 (packed bf16x2).
// Loaded by suite/gpu/session.py (hwbench.gpu.session) with cupy.RawModule; also compiles with plain nvcc:
//     nvcc -arch=sm_90 -c fma.cu
//
// Each thread runs CHAINS independent recurrences x = a * x + b (one FMA each), fully unrolled, so every
// warp has CHAINS independent FMAs in flight: with 4-cycle FMA latency and at least 8 resident warps per
// scheduler this keeps every FP pipe busy. The host launches enough blocks to fill every SM.
// With a = 3/4 and b = 1/2 the recurrence converges to 2 and never overflows or reaches subnormals, so
// the timing does not depend on the data. Each thread stores the sum of its chains (the anti-dead-code
// store), which the host validates against that limit (suite/gpu/fma.py, imported as hwbench.gpu.fma).
//
// fp16 and bf16 use inline PTX (fma.rn.f16x2, fma.rn.bf16x2; sm_53 and sm_80 and later) on packed 32-bit
// registers, so no cuda_fp16.h / cuda_bf16.h is included: the NVRTC header-version trap of CuPy issues
// 8146 and 9719 cannot occur. a, b and x0 arrive as 32-bit words holding the same value in both halves.

// Compile-time constants: hwbench passes them as -DNAME=value from suite/catalog.py (FMA_CU); the defaults
// below equal the catalog's (a test checks), so plain nvcc builds the kernels hwbench runs.
#ifndef BLOCK
#define BLOCK 256  // threads per block: the host launches blocks of BLOCK threads
#endif
#ifndef CHAINS
#define CHAINS 8  // independent FMA chains per thread
#endif
#ifndef UNROLL
#define UNROLL 32  // iterations of all chains per trip of the main loop (see suite/catalog.py for why 32)
#endif

// _Pragma takes a string literal: HWBENCH_UNROLL(UNROLL) expands UNROLL first, then makes "unroll 32".
#define HWBENCH_STRINGIFY(text) #text
#define HWBENCH_UNROLL(n) HWBENCH_STRINGIFY(unroll n)

#define FMA_KERNEL(NAME, T, FMA_FN)                                                                      \
extern "C" __global__ void __launch_bounds__(BLOCK)                                                      \
NAME(T* __restrict__ out, T a, T b, T x0, int iterations) {                                              \
    T x[CHAINS];                                                                                         \
    _Pragma("unroll")                                                                                    \
    for (int c = 0; c < CHAINS; ++c) x[c] = x0;                                                          \
    _Pragma(HWBENCH_UNROLL(UNROLL))                                                                      \
    for (int i = 0; i < iterations; ++i) {                                                               \
        _Pragma("unroll")                                                                                \
        for (int c = 0; c < CHAINS; ++c) x[c] = FMA_FN(x[c], a, b);                                      \
    }                                                                                                    \
    T sum = 0;                                                                                           \
    _Pragma("unroll")                                                                                    \
    for (int c = 0; c < CHAINS; ++c) sum += x[c];                                                        \
    out[(long long)blockIdx.x * blockDim.x + threadIdx.x] = sum;                                         \
}

FMA_KERNEL(fma_f64, double, fma)
FMA_KERNEL(fma_f32, float, fmaf)

// The chains are summed with FMAs by one (x * 1 + sum): add.bf16x2 needs sm_90, fma.rn.bf16x2 only sm_80.
#define PACKED_FMA_KERNEL(NAME, FMA_OP, ONE)                                                          \
extern "C" __global__ void __launch_bounds__(BLOCK)                                                      \
NAME(unsigned int* __restrict__ out, unsigned int a, unsigned int b, unsigned int x0, int iterations) {  \
    unsigned int x[CHAINS];                                                                              \
    _Pragma("unroll")                                                                                    \
    for (int c = 0; c < CHAINS; ++c) x[c] = x0;                                                          \
    _Pragma(HWBENCH_UNROLL(UNROLL))                                                                      \
    for (int i = 0; i < iterations; ++i) {                                                               \
        _Pragma("unroll")                                                                                \
        for (int c = 0; c < CHAINS; ++c)                                                                 \
            asm volatile(FMA_OP " %0, %0, %1, %2;" : "+r"(x[c]) : "r"(a), "r"(b));                       \
    }                                                                                                    \
    unsigned int sum = x[0], one = ONE;                                                                  \
    _Pragma("unroll")                                                                                    \
    for (int c = 1; c < CHAINS; ++c) asm(FMA_OP " %0, %1, %2, %0;" : "+r"(sum) : "r"(x[c]), "r"(one));   \
    out[(long long)blockIdx.x * blockDim.x + threadIdx.x] = sum;                                         \
}

PACKED_FMA_KERNEL(fma_f16x2, "fma.rn.f16x2", 0x3C003C00u)   // 1.0 in both fp16 halves
// fma.rn.bf16x2 needs sm_80: on Turing (sm_75) the entry is not compiled and the session skips fma_bf16.
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
PACKED_FMA_KERNEL(fma_bf16x2, "fma.rn.bf16x2", 0x3F803F80u)  // 1.0 in both bf16 halves
#endif
