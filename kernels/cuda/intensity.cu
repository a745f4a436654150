// The arithmetic-intensity kernel for NVIDIA GPUs: the Empirical Roofline Toolkit's kernel (ERT,
// Kernels/kernel1.h). Loaded by suite/gpu/intensity.py (hwbench.gpu.intensity) with cupy.RawModule; also
// compiles with plain nvcc:
//     nvcc -arch=sm_90 -c intensity.cu
//
// Each element is loaded, updated, and stored back in place (grid-stride loop, so any grid covers the array):
//     flops == 1:  x = x + beta                    (1 FLOP)
//     flops == 2k: k times x = fma(x, alpha, beta) (2k FLOPs)
// One load and one store of the element, so the intensity is flops / (2 x sizeof(T)) FLOP per byte. Every
// thread carries one dependency chain; a full SM holds enough warps (BLOCK-thread blocks, several per SM) to
// cover the FMA latency, as ERT's GPU kernel does.
//
// ``passes`` sweeps of the array per launch (each thread updates the same elements every pass, so no pass
// depends on another thread's): an L2-sized array moves only tens of MiB per pass, a few microseconds, as
// short as the host's launch cost; several passes make each launch long enough to time.
//
// Validation (host): with alpha = beta = 1, every step adds exactly 1, so after L launches every element holds
// its start value + L x passes x (flops == 1 ? 1 : flops / 2), exactly, while below 2^24 (float) or 2^53
// (double).

// Compile-time constants: hwbench passes them as -DNAME=value from suite/catalog.py (INTENSITY_CU); the
// defaults below equal the catalog's (a test checks), so plain nvcc builds the kernels hwbench runs.
#ifndef BLOCK
#define BLOCK 256  // threads per block (__launch_bounds__)
#endif
#ifndef UNROLL
#define UNROLL 8  // FMA steps per trip of the step loop
#endif

constexpr int kUnroll = UNROLL;  // #pragma unroll takes a constant expression, not a macro

template <typename T>
__device__ __forceinline__ void intensity(T* __restrict__ a, long long n, int flops, int passes, T alpha, T beta) {
    const int steps = flops / 2;
    for (int pass = 0; pass < passes; ++pass) {
        for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
             i += (long long)blockDim.x * gridDim.x) {
            T x = a[i];
            if (flops == 1) {
                x = x + beta;
            } else {
#pragma unroll kUnroll
                for (int s = 0; s < steps; ++s) x = fma(x, alpha, beta);
            }
            a[i] = x;
        }
    }
}

extern "C" __global__ void __launch_bounds__(BLOCK)
intensity_f64(double* __restrict__ a, long long n, int flops, int passes, double alpha, double beta) {
    intensity(a, n, flops, passes, alpha, beta);
}

extern "C" __global__ void __launch_bounds__(BLOCK)
intensity_f32(float* __restrict__ a, long long n, int flops, int passes, float alpha, float beta) {
    intensity(a, n, flops, passes, alpha, beta);
}
