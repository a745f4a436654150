/* Plain CUDA STREAM triad for hwbench's side-by-side check on a GPU (scripts/gpu_session.sh): BabelStream's
 * launch (one double per thread, 1024-thread blocks, grid = n / 1024), a[i] = b[i] + s * c[i] over float64
 * arrays, CUDA events around each launch, every element checked at the end. Bytes: 24 per element (STREAM).
 * Prints: best_gbps median_gbps (10^9 bytes per second).
 * Build: nvcc -O3 -arch=native cuda_triad.cu -o cuda_triad      Usage: cuda_triad N_ELEMENTS REPETITIONS */
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <vector>

#define CHECK(call) do { cudaError_t e = (call); if (e != cudaSuccess) { \
    fprintf(stderr, "%s: %s\n", #call, cudaGetErrorString(e)); return 1; } } while (0)

__global__ void init(double* a, double* b, double* c, long n) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) { a[i] = 0.0; b[i] = 1.0; c[i] = 2.0; }
}

__global__ void triad(double* __restrict__ a, const double* __restrict__ b, const double* __restrict__ c,
                      double s, long n) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) a[i] = b[i] + s * c[i];
}

int main(int argc, char** argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s N REPS\n", argv[0]); return 2; }
    const long n = atol(argv[1]);
    const int reps = atoi(argv[2]);
    const double s = 3.0;
    const int block = 1024;
    const long grid = (n + block - 1) / block;
    double *a, *b, *c;
    CHECK(cudaMalloc(&a, n * sizeof(double)));
    CHECK(cudaMalloc(&b, n * sizeof(double)));
    CHECK(cudaMalloc(&c, n * sizeof(double)));
    init<<<grid, block>>>(a, b, c, n);
    triad<<<grid, block>>>(a, b, c, s, n);  // untimed: module load
    CHECK(cudaDeviceSynchronize());
    cudaEvent_t start, stop;
    CHECK(cudaEventCreate(&start));
    CHECK(cudaEventCreate(&stop));
    std::vector<double> gbps(reps);
    for (int r = 0; r < reps; ++r) {
        CHECK(cudaEventRecord(start));
        triad<<<grid, block>>>(a, b, c, s, n);
        CHECK(cudaEventRecord(stop));
        CHECK(cudaEventSynchronize(stop));
        float ms = 0;
        CHECK(cudaEventElapsedTime(&ms, start, stop));
        gbps[r] = 24.0 * n / (ms * 1e-3) / 1e9;
    }
    std::vector<double> host(n);
    CHECK(cudaMemcpy(host.data(), a, n * sizeof(double), cudaMemcpyDeviceToHost));
    for (long i = 0; i < n; ++i)
        if (host[i] != 1.0 + s * 2.0) { fprintf(stderr, "a[%ld] = %g, not 7\n", i, host[i]); return 1; }
    std::sort(gbps.begin(), gbps.end());
    printf("%.1f %.1f\n", gbps[reps - 1], gbps[reps / 2]);
    return 0;
}
