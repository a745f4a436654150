// On-chip bandwidth kernels for NVIDIA GPUs: shared memory and the L1 data cache. Loaded by
// suite/gpu/onchip.py (hwbench.gpu.onchip) with cupy.RawModule; also compiles with plain nvcc:
//     nvcc -arch=sm_90 -c onchip.cu
//
// Both kernels read a buffer of VECTORS float4 (16 bytes each) that fits on chip: thread t of a block reads
// vectors t, t + BLOCK, t + 2 BLOCK, ... (VECTORS / BLOCK of them, every one once per pass), so a warp's 32 loads of a step are 512 consecutive bytes: no bank conflict in shared
// memory, whole 128-byte lines in L1. Each pass starts one vector further on (index + pass, modulo VECTORS),
// so no load repeats the address of the previous pass's load and none can be hoisted out of the pass loop.
// - shared_read_f32: the block first copies the buffer from global memory into its shared array, then reads
//   the shared array ``passes`` times (gpu-benches' and the CUDA samples' method).
// - l1_read_f32: every block reads the same small global buffer ``passes`` times through the read-only data
//   path (__ldg); after the first pass it is held in each SM's L1.
// Every thread writes its own sum of all components it read to out[global thread index]; the host checks each
// against passes x (VECTORS / BLOCK) x 4 x value (exact in float while below 2^24).

// Compile-time constants: hwbench passes them as -DNAME=value from suite/catalog.py (ONCHIP_CU); the
// defaults below equal the catalog's (a test checks), so plain nvcc builds the kernels hwbench runs.
#ifndef BLOCK
#define BLOCK 512  // threads per block; every launch uses exactly BLOCK
#endif
#ifndef VECTORS
#define VECTORS 2048  // float4 in the buffer: 32 KiB, within every SM's shared memory and L1 since Volta
#endif
#if VECTORS % BLOCK != 0 || (VECTORS & (VECTORS - 1)) != 0
#error "VECTORS must be a power of two and a multiple of BLOCK"
#endif

__device__ __forceinline__ float4 add4(float4 a, float4 b) {
    return make_float4(a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w);
}

extern "C" __global__ void __launch_bounds__(BLOCK)
shared_read_f32(const float4* __restrict__ source, float* __restrict__ out, int passes) {
    __shared__ float4 buffer[VECTORS];
    for (int v = threadIdx.x; v < VECTORS; v += BLOCK) buffer[v] = source[v];
    __syncthreads();
    float4 sum = make_float4(0.f, 0.f, 0.f, 0.f);
    for (int pass = 0; pass < passes; ++pass) {
#pragma unroll
        for (int k = 0; k < VECTORS / BLOCK; ++k) sum = add4(sum, buffer[(threadIdx.x + k * BLOCK + pass) % VECTORS]);
    }
    out[(long long)blockIdx.x * BLOCK + threadIdx.x] = sum.x + sum.y + sum.z + sum.w;
}

extern "C" __global__ void __launch_bounds__(BLOCK)
l1_read_f32(const float4* __restrict__ source, float* __restrict__ out, int passes) {
    float4 sum = make_float4(0.f, 0.f, 0.f, 0.f);
    for (int pass = 0; pass < passes; ++pass) {
#pragma unroll
        for (int k = 0; k < VECTORS / BLOCK; ++k)
            sum = add4(sum, __ldg(&source[(threadIdx.x + k * BLOCK + pass) % VECTORS]));
    }
    out[(long long)blockIdx.x * BLOCK + threadIdx.x] = sum.x + sum.y + sum.z + sum.w;
}
