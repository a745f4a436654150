// Tensor-pipe peak kernels for NVIDIA GPUs: warp-level mma.sync on operands held in registers, one entry per
// input type. The tensor cores' own ceiling, as fma.cu measures the FMA pipe's: no memory traffic in the loop,
// CHAINS independent accumulator fragments per warp so the tensor pipe's latency is covered.
// Compiles with plain nvcc (the defaults below):
//     nvcc -arch=sm_80 -c mma.cu        (fp16, bf16, tf32, int8)
//     nvcc -arch=sm_89 -c mma.cu        (and fp8 e4m3 / e5m2)
//
// Shapes and work per warp-wide instruction (PTX ISA, "Warp-level matrix multiply-accumulate instructions",
// mma.sync.aligned; 2 x M x N x K operations, the count cuBLAS and every tensor-core datasheet use):
//     f16, bf16   m16n8k16, f32 accumulators   4,096 FLOP   (sm_80+)
//     tf32        m16n8k8,  f32 accumulators   2,048 FLOP   (sm_80+)
//     s8          m16n8k32, s32 accumulators   8,192 OP     (sm_80+; counted as OP, never FLOP)
//     e4m3, e5m2  m16n8k32, f32 accumulators   8,192 FLOP   (sm_89+)
// Every thread holds 4 A registers, 2 B registers and 4 accumulators per chain (PTX ISA fragment layouts).
//
// Validation: the A and B words arrive as kernel arguments (so nothing can be folded) and hold the value 1 in
// every element; each step adds K to every accumulator element, so after n steps each holds n x K exactly (fp32
// while n x K < 2**24, int32 always at the host's sizes). Each thread stores the sum of its 4 x CHAINS
// accumulators; the host checks out[i] == 4 x CHAINS x n x K.
//
// Only mma.sync (sm_80/sm_89 tensor pipes) is here; Hopper's full rate needs wgmma (sm_90a, warpgroup operands in
// shared memory) and Blackwell's tcgen05: mma.sync on sm_90 reaches a fraction of the wgmma peak.

// Compile-time constants: passed as -DNAME=value from suite/catalog.py (MMA_CU); the defaults below equal the
// catalog's (a test checks).
#ifndef BLOCK
#define BLOCK 256  // threads per block (8 warps)
#endif
#ifndef CHAINS
#define CHAINS 4  // independent accumulator fragments per warp
#endif
#ifndef UNROLL
#define UNROLL 8  // iterations of all chains per trip of the main loop
#endif

#define HWBENCH_STRINGIFY(text) #text
#define HWBENCH_UNROLL(n) HWBENCH_STRINGIFY(unroll n)

// One m16n8kK step on float accumulators: d = a x b + d, in place.
#define MMA_F32(SHAPE_TYPES, acc, a, b)                                                                     \
    asm volatile("mma.sync.aligned." SHAPE_TYPES " {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"  \
                 : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])                                  \
                 : "r"(a), "r"(a), "r"(a), "r"(a), "r"(b), "r"(b))

#define MMA_S32(SHAPE_TYPES, acc, a, b)                                                                     \
    asm volatile("mma.sync.aligned." SHAPE_TYPES " {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"  \
                 : "+r"(acc[0]), "+r"(acc[1]), "+r"(acc[2]), "+r"(acc[3])                                  \
                 : "r"(a), "r"(a), "r"(a), "r"(a), "r"(b), "r"(b))

#define MMA_KERNEL(NAME, ACC_T, MMA, SHAPE_TYPES)                                                           \
extern "C" __global__ void __launch_bounds__(BLOCK)                                                       \
NAME(ACC_T* __restrict__ out, unsigned a, unsigned b, int iterations) {                                   \
    ACC_T acc[CHAINS][4];                                                                                 \
    _Pragma("unroll")                                                                                     \
    for (int c = 0; c < CHAINS; ++c) {                                                                    \
        _Pragma("unroll")                                                                                 \
        for (int e = 0; e < 4; ++e) acc[c][e] = 0;                                                        \
    }                                                                                                     \
    _Pragma(HWBENCH_UNROLL(UNROLL))                                                                       \
    for (int i = 0; i < iterations; ++i) {                                                                \
        _Pragma("unroll")                                                                                 \
        for (int c = 0; c < CHAINS; ++c) MMA(SHAPE_TYPES, acc[c], a, b);                                  \
    }                                                                                                     \
    ACC_T sum = 0;                                                                                        \
    _Pragma("unroll")                                                                                     \
    for (int c = 0; c < CHAINS; ++c) {                                                                    \
        _Pragma("unroll")                                                                                 \
        for (int e = 0; e < 4; ++e) sum += acc[c][e];                                                     \
    }                                                                                                     \
    out[blockIdx.x * blockDim.x + threadIdx.x] = sum;                                                     \
}

#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
MMA_KERNEL(mma_f16, float, MMA_F32, "m16n8k16.row.col.f32.f16.f16.f32")
MMA_KERNEL(mma_bf16, float, MMA_F32, "m16n8k16.row.col.f32.bf16.bf16.f32")
MMA_KERNEL(mma_tf32, float, MMA_F32, "m16n8k8.row.col.f32.tf32.tf32.f32")
MMA_KERNEL(mma_s8, int, MMA_S32, "m16n8k32.row.col.s32.s8.s8.s32")
#endif

#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 890
MMA_KERNEL(mma_e4m3, float, MMA_F32, "m16n8k32.row.col.f32.e4m3.e4m3.f32")
MMA_KERNEL(mma_e5m2, float, MMA_F32, "m16n8k32.row.col.f32.e5m2.e5m2.f32")
#endif
