// A 2-D 5-point stencil for `hwbench validate` (suite/workloads/gpu.py, imported as hwbench.workloads.gpu):
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
