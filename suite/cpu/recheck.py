"""The FMA family's placement recheck (stability.py) for a kernel measured alone with its probed run: the
low-precision (lowp.py) and instruction-mix (mix.py) chain kernels.

Each such kernel has, like an FMA ceiling, two measurements of one rate: its headline samples and the probed run
(the kernel interleaved with the clock probe), whose clock and rate give its FLOP or OP per cycle. On a 2-vCPU
guest they showed the same half-rate placement bimodality as the FMA kernels (bf16, int8 and add at about half
their rate in some runs, docs/gate.md). So each is checked by ``stability.chosen_probe`` (the probed rate lies
between the samples' median and ceiling, widened by ``AGREEMENT_MARGIN``); on a disagreement both are measured
again, interleaved, at most ``RECHECK_ROUNDS`` times, every sample is kept (the ceiling rule reads them all), and a
disagreement that stays is ``unstable``: the profile keeps the spread and the likely cause, and the kernel gets no
clock-paired rate, so no per-cycle figure its headline contradicts. Each batch records the contention of its
window (other work, steal, quota time), the evidence ``likely_cause`` reads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ..stats import KernelResult, RateSummary
from .clock import probe_problem
from .contention import CpuLimit, in_window
from .family import CpuContext
from .stability import (
    RECHECK_ROUNDS,
    Evidence,
    ProbedRate,
    agrees,
    chosen_probe,
    likely_cause,
    spread,
    stability_record,
)

Probe = Callable[[], tuple[float, float, float]]  # (add-chain MHz, multiply-chain MHz, rate) of one probed run


def checked_kernel(context: CpuContext, limit: CpuLimit, measure: Callable[[], KernelResult],
                   probe: Probe) -> KernelResult:
    """The kernel's result after the recheck (module docstring): every batch's samples pooled, the ``stability``
    record, and, where a probed run agrees with the samples and its clock is trusted, that run's clock and rate
    (``clocks_mhz``, ``paired_gflops``)."""
    batches: list[tuple[KernelResult, Evidence]] = []
    probes: list[ProbedRate] = []
    problems: list[str | None] = []
    cross: list[float] = []

    def round_() -> None:
        result, window = in_window(context.cpus, limit, measure)
        batches.append((result, Evidence((), window)))
        add_mhz, mul_mhz, rate = probe()
        problems.append(probe_problem(f"under {result.name}", add_mhz, mul_mhz, context.cpu.nominal_mhz))
        trusted = problems[-1] is None
        probes.append(ProbedRate(rate, add_mhz if trusted else None, mul_mhz if trusted else None))
        cross.append(mul_mhz)

    def samples() -> list[float]:
        return [x for result, _ in batches for x in result.summary.samples]

    def settled() -> bool:
        """A probed run's rate agrees with the samples (a clock the chains do not support is no reason to measure
        again: measuring again does not mend it)."""
        return any(agrees(samples(), p.gflops) for p in probes)

    round_()
    name = batches[0][0].name
    cause = None
    for _ in range(RECHECK_ROUNDS):
        if settled():
            break
        cause = cause or likely_cause([e for _, e in batches], probes)
        round_()
    index = chosen_probe(samples(), probes)
    if index is None and settled():  # the rates agree but no agreeing run's clock can be believed
        context.warnings.append(f"clock probe failed ({problems[-1]}): no clock or per-cycle figure for {name}; its "
                                "ceiling stands")
        return _pooled(batches, None)
    if index is None:
        cause = likely_cause([e for _, e in batches], probes)
        rates = [r.summary.ceiling for r, _ in batches] + [p.gflops for p in probes]
        context.warnings.append(f"{name}: unstable ceiling: the headline and its probed run disagreed in "
                                f"{len(batches)} interleaved rounds (spread {spread(rates):.0%}); likely cause: "
                                f"{cause}; no per-cycle figure is reported")
    record = stability_record([r.summary.samples for r, _ in batches], probes, index, cause)
    result = _pooled(batches, record)
    if index is None:
        return result
    chosen = probes[index]
    assert chosen.clock_mhz is not None  # chosen_probe picks only a probe with a trusted clock
    return dataclasses.replace(result, clocks_mhz={"core": chosen.clock_mhz}, paired_gflops=chosen.gflops,
                               details={**result.details, "probe_cross_check_mhz": round(cross[index], 1)})


def _pooled(batches: list[tuple[KernelResult, Evidence]], stability: dict | None) -> KernelResult:
    """One result from every batch: all samples (the ceiling rule reads them all) and each batch's window."""
    first = batches[0][0]
    samples = tuple(x for result, _ in batches for x in result.summary.samples)
    windows = [e.window.as_dict() for _, e in batches if e.window is not None]
    return dataclasses.replace(first, summary=RateSummary(samples), stability=stability,
                               contention={"windows": windows} if windows else first.contention)


__all__ = ["checked_kernel"]
