// Load-to-use latency of every memory level of an NVIDIA GPU: one thread chases a random cycle of indices
// (Jia et al., "Dissecting the NVIDIA Volta GPU Architecture via Microbenchmarking", 2018: j = A[j], timed
// with clock64()). Loaded by suite/gpu/latency.py (hwbench.gpu.latency) with cupy.RawModule; also compiles
// with plain nvcc:
//     nvcc -arch=sm_90 -c latency.cu
//
// The chain holds one index per line (the host lays the lines out and links them in one random cycle, so no
// prefetcher and no coalescing can help). Each kernel first walks ``warm`` loads untimed (the whole cycle, so its
// lines sit in the level under test; a few for HBM, so every timed line is cold), then times ``steps`` more
// dependent loads with clock64(), UNROLL per loop trip (``warm`` and ``steps`` are multiples of UNROLL). It writes
// the cycles of the timed walk and the index it ended at: the host checks that index against the cycle, so a
// wrong chase is an error, never a number.
// - chase_global_cg: loads with __ldcg (cache in L2 only): L2 when the chain fits in L2, HBM when it is many
//   times larger.
// - chase_global_ldg: loads with __ldg (the read-only path through L1): L1 for a chain that fits in it.
// - chase_shared: the block copies the chain into shared memory, then thread 0 chases it there.
// - chase_remote: loads with __ldcv (volatile: never served from a cache, fetched again each time) on a chain that
//   lives outside this GPU's memory: in pinned host memory (host-to-device latency) or in a peer GPU's memory
//   through peer access (device-to-device latency). nvbandwidth's host_device_latency_sm and
//   device_to_device_latency_sm method: one thread chasing a pointer chain over the link.

// Compile-time constants: hwbench passes them as -DNAME=value from suite/catalog.py (LATENCY_CU); the default
// below equals the catalog's (a test checks), so plain nvcc builds the kernels hwbench runs.
#ifndef UNROLL
#define UNROLL 8  // dependent loads per loop trip
#endif

template <int KIND>
__device__ __forceinline__ unsigned next_index(const unsigned* __restrict__ chain, unsigned j) {
    if (KIND == 0) return __ldcg(chain + j);
    if (KIND == 2) return __ldcv(chain + j);
    return __ldg(chain + j);
}

template <int KIND>
__device__ __forceinline__ void chase(const unsigned* __restrict__ chain, int warm, int steps, unsigned start,
                                      long long* __restrict__ cycles, unsigned* __restrict__ end) {
    unsigned j = start;
    for (int s = 0; s < warm; s += UNROLL) {
#pragma unroll
        for (int k = 0; k < UNROLL; ++k) j = next_index<KIND>(chain, j);
    }
    long long began = clock64();
    for (int s = 0; s < steps; s += UNROLL) {
#pragma unroll
        for (int k = 0; k < UNROLL; ++k) j = next_index<KIND>(chain, j);
    }
    long long ended = clock64();
    *cycles = ended - began;
    *end = j;
}

extern "C" __global__ void chase_global_cg(const unsigned* __restrict__ chain, int warm, int steps, unsigned start,
                                           long long* cycles, unsigned* end) {
    if (threadIdx.x == 0 && blockIdx.x == 0) chase<0>(chain, warm, steps, start, cycles, end);
}

extern "C" __global__ void chase_global_ldg(const unsigned* __restrict__ chain, int warm, int steps, unsigned start,
                                            long long* cycles, unsigned* end) {
    if (threadIdx.x == 0 && blockIdx.x == 0) chase<1>(chain, warm, steps, start, cycles, end);
}

extern "C" __global__ void chase_remote(const unsigned* __restrict__ chain, int warm, int steps, unsigned start,
                                        long long* cycles, unsigned* end) {
    if (threadIdx.x == 0 && blockIdx.x == 0) chase<2>(chain, warm, steps, start, cycles, end);
}

extern "C" __global__ void chase_shared(const unsigned* __restrict__ chain, int words, int warm, int steps,
                                        unsigned start, long long* cycles, unsigned* end) {
    extern __shared__ unsigned local[];
    for (int i = threadIdx.x; i < words; i += blockDim.x) local[i] = chain[i];
    __syncthreads();
    if (threadIdx.x != 0) return;
    unsigned j = start;
    for (int s = 0; s < warm; s += UNROLL) {
#pragma unroll
        for (int k = 0; k < UNROLL; ++k) j = local[j];
    }
    long long began = clock64();
    for (int s = 0; s < steps; s += UNROLL) {
#pragma unroll
        for (int k = 0; k < UNROLL; ++k) j = local[j];
    }
    long long ended = clock64();
    *cycles = ended - began;
    *end = j;
}
