// The raw kernels of `hwbench validate` on a GPU (suite/workloads/gpu.py, imported as hwbench.workloads.gpu).
// First, a 2-D 5-point stencil:
//     out[r][c] = c0 * u[r][c] + c1 * (((u[r-1][c] + u[r+1][c]) + u[r][c-1]) + u[r][c+1])
// on the interior of a rows x cols row-major fp32 grid; the border of `out` is never written. 2 multiplications
// and 4 additions per interior point (the count hwbench.tools.validate uses); each point of `u` is read from
// DRAM once, its neighbours come from L1/L2. Loaded with cupy.RawModule; also compiles with plain nvcc:
//     nvcc -arch=sm_90 -c stencil.cu
//
// Launch: a 2-D grid of ceil(cols / BLOCK_X) x ceil(rows / BLOCK_Y) blocks of BLOCK_X x BLOCK_Y threads, one
// point per thread (x along a row, so a warp reads 32 consecutive floats).

// Compile-time constants: hwbench passes them as -DNAME=value from suite/catalog.py (STENCIL_CU); the defaults
// below equal the catalog's (a test checks), so plain nvcc builds the kernel hwbench runs.
#ifndef BLOCK_X
#define BLOCK_X 32  // threads per block along a row: one warp, coalesced loads
#endif
#ifndef BLOCK_Y
#define BLOCK_Y 8  // rows per block
#endif
#if BLOCK_X * BLOCK_Y > 1024 || (BLOCK_X * BLOCK_Y) % 32 != 0
#error "BLOCK_X * BLOCK_Y must be whole warps, at most 1024 threads"
#endif

extern "C" __global__ void __launch_bounds__(BLOCK_X * BLOCK_Y)
stencil5_f32(const float* __restrict__ u, float* __restrict__ out, int rows, int cols, float c0, float c1) {
    const int col = blockIdx.x * BLOCK_X + threadIdx.x;
    const int row = blockIdx.y * BLOCK_Y + threadIdx.y;
    if (row < 1 || row >= rows - 1 || col < 1 || col >= cols - 1) return;
    const size_t i = (size_t)row * cols + col;
    out[i] = c0 * u[i] + c1 * (((u[i - cols] + u[i + cols]) + u[i - 1]) + u[i + 1]);
}

// The other raw kernels of `hwbench validate` on a GPU: the loops a CUDA user writes for a 3-D 7-point stencil, an
// all-pairs n-body step and a CSR sparse matrix-vector product; counts in suite/tools/workload_counts.py.

// 3-D 7-point stencil on the interior of an nz x ny x nx row-major fp32 grid (x fastest), as the CPU's:
//     out = c0 u + c1 (((((down + up) + south) + north) + west) + east)
// 2 multiplications and 6 additions per interior point. Launch: a grid of ceil(nx / BLOCK_X) x ceil(ny / BLOCK_Y)
// x nz blocks of BLOCK_X x BLOCK_Y threads, one point per thread.
extern "C" __global__ void __launch_bounds__(BLOCK_X * BLOCK_Y)
stencil7_f32(const float* __restrict__ u, float* __restrict__ out, int nz, int ny, int nx, float c0, float c1) {
    const int i = blockIdx.x * BLOCK_X + threadIdx.x;
    const int j = blockIdx.y * BLOCK_Y + threadIdx.y;
    const int k = blockIdx.z;
    if (k < 1 || k >= nz - 1 || j < 1 || j >= ny - 1 || i < 1 || i >= nx - 1) return;
    const size_t plane = (size_t)ny * nx;
    const size_t p = (size_t)k * plane + (size_t)j * nx + i;
    out[p] = c0 * u[p] + c1 * (((((u[p - plane] + u[p + plane]) + u[p - nx]) + u[p + nx]) + u[p - 1]) + u[p + 1]);
}

// One all-pairs gravitational step (G = 1), one body per thread: a_i = sum_j m_j d_ij / (|d_ij|^2 + eps2)^(3/2),
// the self-pair included (d = 0: no force). 20 FLOPs per pair as GPU Gems 3, ch. 31 counts them (rsqrtf as 2).
// Every thread of a warp reads the same x[j]: one broadcast load from L1. Launch: ceil(n / (BLOCK_X * BLOCK_Y))
// blocks of BLOCK_X * BLOCK_Y threads (1-D).
extern "C" __global__ void __launch_bounds__(BLOCK_X * BLOCK_Y)
nbody_f32(const float* __restrict__ x, const float* __restrict__ y, const float* __restrict__ z,
          const float* __restrict__ m, float* __restrict__ ax, float* __restrict__ ay, float* __restrict__ az, int n,
          float eps2) {
    const int i = blockIdx.x * (BLOCK_X * BLOCK_Y) + threadIdx.x;
    if (i >= n) return;
    const float xi = x[i], yi = y[i], zi = z[i];
    float sx = 0.0f, sy = 0.0f, sz = 0.0f;
    for (int j = 0; j < n; ++j) {
        const float dx = x[j] - xi, dy = y[j] - yi, dz = z[j] - zi;
        const float inverse = rsqrtf(dx * dx + dy * dy + dz * dz + eps2);
        const float s = m[j] * inverse * inverse * inverse;
        sx += dx * s;
        sy += dy * s;
        sz += dz * s;
    }
    ax[i] = sx;
    ay[i] = sy;
    az[i] = sz;
}

// CSR y = A x, one row per thread (the "CSR scalar" kernel of Bell and Garland, "Efficient Sparse Matrix-Vector
// Multiplication on CUDA", NVIDIA NVR-2008-004): int64 row pointers, int32 column indices, fp32 values; the row's
// sum in order. Launch: ceil(rows / (BLOCK_X * BLOCK_Y)) blocks of BLOCK_X * BLOCK_Y threads (1-D).
extern "C" __global__ void __launch_bounds__(BLOCK_X * BLOCK_Y)
spmv_csr_f32(const long long* __restrict__ pointers, const int* __restrict__ columns, const float* __restrict__ values,
             const float* __restrict__ x, float* __restrict__ y, int rows) {
    const int row = blockIdx.x * (BLOCK_X * BLOCK_Y) + threadIdx.x;
    if (row >= rows) return;
    float total = 0.0f;
    for (long long k = pointers[row]; k < pointers[row + 1]; ++k) {
        total += values[k] * x[columns[k]];
    }
    y[row] = total;
}
