"""How a shared host's DRAM bandwidth is distributed from one call to the next: the evidence behind ``hwbench
validate``'s two readings of a profile (docs/validation.md, "Two readings of one profile").

    python scripts/dram_states.py --seconds 30 --out results/dram-states-MACHINE.yaml

Runs three programs a NumPy user writes, on ``--threads`` threads (one contiguous slice each, as validate's NumPy
programs do), round-robin for ``--seconds``: ``np.add(a, b, out=c)``, ``np.copyto(c, a)`` and ``np.sum(x)``, each
over arrays of ``--mib`` MiB (at least 4x the last-level cache: DRAM). Every call is one sample, timed with
``time.perf_counter``. Rates count the bytes each call reads and writes (STREAM's convention: add 24, copy 16 and
sum 8 bytes per element); nothing is checked against a roof.

Writes per program: the sample count, the median, the 10% quantile from the top (what the profile's ceiling rule,
the K-th highest sample with K = 10%, reads), the 5% quantile, the best, the share of samples above
``--fast`` GB/s, and the median of each second of the run (whether the states last seconds or single calls).
Measurement only; it prints the same figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import yaml


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--mib", type=int, default=128, help="MiB per array (default 128: 4x a 32 MiB L3)")
    parser.add_argument("--fast", type=float, default=55.0, help="GB/s above which a sample counts as fast")
    parser.add_argument("--out", type=Path, help="write the summary here (YAML)")
    args = parser.parse_args()
    if args.seconds <= 0 or args.threads < 1 or args.mib < 1:
        print("dram_states: --seconds, --threads and --mib must be positive", file=sys.stderr)
        return 2
    n = args.mib * 2**20 // 8 // args.threads * args.threads
    a, b, c, x = (np.full(n, value) for value in (1.0, 2.0, 0.0, 0.5))  # written: first-touched before timing
    bounds = [slice(i * n // args.threads, (i + 1) * n // args.threads) for i in range(args.threads)]
    programs = {
        "np.add": (lambda s: np.add(a[s], b[s], out=c[s]), 24),
        "np.copyto": (lambda s: np.copyto(c[s], a[s]), 16),
        "np.sum": (lambda s: np.sum(x[s]), 8),
    }
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in programs}
    started_at = dt.datetime.now(dt.timezone.utc)
    with ThreadPoolExecutor(args.threads) as pool:
        for call, _ in programs.values():  # one untimed call each: page faults, thread start-up
            list(pool.map(call, bounds))
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < args.seconds:
            for name, (call, bytes_per_element) in programs.items():
                begun = time.perf_counter()
                list(pool.map(call, bounds))
                seconds = time.perf_counter() - begun
                samples[name].append((elapsed, bytes_per_element * n / seconds / 1e9))
    if not (np.all(c == 1.0) and np.sum(x) == 0.5 * n):
        print("dram_states: output check failed (c must equal a, sum(x) must be n / 2); no figure", file=sys.stderr)
        return 1
    summary: dict = {
        "script": "scripts/dram_states.py", "commit": _commit(), "started": started_at.isoformat(timespec="seconds"),
        "host": platform.node(), "cpu": platform.processor() or platform.machine(), "threads": args.threads,
        "array_mib": args.mib, "seconds": args.seconds, "fast_gbps": args.fast,
        "counting": "bytes each call reads and writes (STREAM): add 24, copy 16, sum 8 per element",
        "programs": {},
    }
    for name, timed in samples.items():
        rates = np.array([rate for _, rate in timed])
        per_second = [round(float(np.median([rate for t, rate in timed if second <= t < second + 1])), 1)
                      for second in range(int(args.seconds)) if any(second <= t < second + 1 for t, _ in timed)]
        summary["programs"][name] = {
            "samples": int(rates.size), "median_gbps": round(float(np.median(rates)), 1),
            "top_10pct_gbps": round(float(np.quantile(rates, 0.9)), 1),
            "top_5pct_gbps": round(float(np.quantile(rates, 0.95)), 1), "best_gbps": round(float(rates.max()), 1),
            "fast_share": round(float(np.mean(rates > args.fast)), 3), "median_per_second_gbps": per_second,
        }
    text = yaml.safe_dump(summary, sort_keys=False, width=120)
    print(text, end="")
    if args.out:  # atomically: a reader never sees half a file
        args.out.parent.mkdir(parents=True, exist_ok=True)
        partial = args.out.with_name(f".{args.out.name}.partial")
        partial.write_text(text)
        os.replace(partial, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
