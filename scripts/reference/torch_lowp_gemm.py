"""PyTorch's int8 and fp8 GEMMs timed by hand, beside hwbench's library GEMMs (gemm_int8: cuBLAS gemmEx; gemm_fp8_e4m3:
cuBLASLt), for scripts/gpu_session.sh: ``torch._int_mm`` (int8 x int8 -> int32) and ``torch._scaled_mm`` (e4m3 x
e4m3 -> bf16, unit scales, B column-major as it requires) on random n x n matrices, CUDA events around each of REPS
calls after WARMUP untimed ones, 2 n^3 operations per call, 64 entries checked against a float64 reference.
Prints one line per operation and size: name n best median (GOP/s for int8, GFLOP/s for fp8); without PyTorch or a
GPU it prints why and exits 0 (the session goes on).
Usage: python torch_lowp_gemm.py [REPS] [N ...]"""

from __future__ import annotations

import statistics
import sys

WARMUP = 3


def timed(torch, call, n: int, reps: int) -> tuple[float, float]:
    for _ in range(WARMUP):
        call()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    rates = []
    for _ in range(reps):
        start.record()
        call()
        stop.record()
        stop.synchronize()
        rates.append(2 * n**3 / (start.elapsed_time(stop) / 1e3) / 1e9)
    return max(rates), statistics.median(rates)


def check(torch, name: str, got, a, b, tolerance: float) -> None:
    rows, cols = torch.randint(0, a.shape[0], (2, 64), generator=torch.Generator().manual_seed(0))
    a64, b64 = a.double().cpu(), b.double().cpu()
    expected = (a64[rows, :] * b64[:, cols].T).sum(dim=1)
    scale = (a64[rows, :].abs() * b64[:, cols].T.abs()).sum(dim=1)
    error = ((got[rows, cols].double().cpu() - expected).abs() / scale).max().item()
    if not error <= tolerance:
        raise SystemExit(f"{name}: relative error {error:g} (tolerance {tolerance:g}): no figure")


def main(reps: int, sizes: list[int]) -> None:
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: no side-by-side of torch._int_mm / torch._scaled_mm")
        return
    if not torch.cuda.is_available():
        print("PyTorch sees no CUDA GPU: no side-by-side")
        return
    capability = torch.cuda.get_device_capability()
    for n in sizes:
        a = torch.randint(-8, 8, (n, n), dtype=torch.int8, device="cuda")
        b = torch.randint(-8, 8, (n, n), dtype=torch.int8, device="cuda")
        out = torch._int_mm(a, b)
        check(torch, "torch._int_mm", out, a, b, 0.0)
        best, median = timed(torch, lambda a=a, b=b: torch._int_mm(a, b), n, reps)
        print(f"torch._int_mm {n} {best:.1f} {median:.1f}")
        del a, b, out
        if capability < (8, 9) or not hasattr(torch, "float8_e4m3fn"):
            continue
        values = torch.tensor([-2.0, -1.5, -1.0, -0.5, 0.5, 1.0, 1.5, 2.0], device="cuda")
        a = values[torch.randint(0, 8, (n, n), device="cuda")].to(torch.float8_e4m3fn)
        b = values[torch.randint(0, 8, (n, n), device="cuda")].to(torch.float8_e4m3fn).t().contiguous().t()
        one = torch.tensor(1.0, device="cuda")
        out = torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
        check(torch, "torch._scaled_mm", out, a.float(), b.float(), 2**-7)
        best, median = timed(torch, lambda a=a, b=b, one=one: torch._scaled_mm(a, b, scale_a=one, scale_b=one,
                                                                               out_dtype=torch.bfloat16), n, reps)
        print(f"torch._scaled_mm {n} {best:.1f} {median:.1f}")
        del a, b, out
        torch.cuda.empty_cache()


if __name__ == "__main__":
    arguments = sys.argv[1:]
    main(int(arguments[0]) if arguments else 20, [int(x) for x in arguments[1:]] or [4096, 8192, 16384])
