"""The FMA family's placement recheck for the instruction kernels (cpu/recheck.py): a headline whose probed run
disagrees is measured again, interleaved, and a disagreement that stays is unstable, with no clock."""

from __future__ import annotations

from types import SimpleNamespace

from hwbench.cpu.contention import CpuLimit
from hwbench.cpu.recheck import checked_kernel
from hwbench.cpu.stability import RECHECK_ROUNDS
from hwbench.stats import KernelResult, RateSummary

NO_QUOTA = CpuLimit(None, "no CPU quota")


def _context() -> SimpleNamespace:
    return SimpleNamespace(cpus=[0, 1], cpu=SimpleNamespace(nominal_mhz=2600.0), warnings=[])


def _batches(*rates: tuple[float, ...]):
    """A measure() that returns one batch of samples per call, in order."""
    pending = list(rates)

    def measure() -> KernelResult:
        return KernelResult("dp_bf16", "bf16", "core", "GFLOP/s", RateSummary(pending.pop(0)), 0, None, None, 10**9,
                            True, {"instruction": "vdpbf16ps zmm"})
    return measure


def _probes(*rates: float):
    pending = list(rates)
    return lambda: (3700.0, 3705.0, pending.pop(0))


def test_a_half_rate_headline_is_measured_again_and_the_agreeing_round_gives_the_clock():
    context = _context()
    # first round: the headline at half rate while its probed run ran at full speed (the placement bimodality)
    measure = _batches((300.0, 301.0, 299.0), (600.0, 605.0, 598.0, 604.0))
    result = checked_kernel(context, NO_QUOTA, measure, _probes(602.0, 603.0))
    assert result.stability["status"] == "consistent" and result.stability["rounds"] == 2
    assert result.stability["cause"].startswith("placement")  # no contention, steal or quota in the windows
    assert len(result.summary.samples) == 7 and result.summary.ceiling >= 600.0  # every sample kept
    assert result.clocks_mhz == {"core": 3700.0} and result.paired_gflops in (602.0, 603.0)
    assert result.details["probe_cross_check_mhz"] == 3705.0 and not context.warnings


def test_a_disagreement_that_stays_is_unstable_with_no_clock_and_one_warning():
    context = _context()
    rounds = RECHECK_ROUNDS + 1
    measure = _batches(*[(300.0, 301.0, 299.0)] * rounds)
    result = checked_kernel(context, NO_QUOTA, measure, _probes(*[600.0] * rounds))
    assert result.stability["status"] == "unstable" and result.stability["rounds"] == rounds
    assert result.stability["probed_gflops"] == [600.0] * rounds and "probed_run" not in result.stability
    assert result.clocks_mhz == {} and result.paired_gflops is None
    assert len(context.warnings) == 1 and context.warnings[0].startswith("dp_bf16: unstable ceiling")


def test_an_agreeing_first_round_is_not_measured_again_and_a_failed_clock_is_not_instability():
    context = _context()
    result = checked_kernel(context, NO_QUOTA, _batches((600.0, 601.0, 598.0)), _probes(599.0))
    assert result.stability["rounds"] == 1 and result.stability["probed_run"] == 0
    context = _context()
    # the chains 30% apart: the clock cannot be believed, so the agreement cannot be judged; the ceiling stands
    result = checked_kernel(context, NO_QUOTA, _batches((600.0, 601.0, 598.0)), lambda: (3700.0, 2800.0, 599.0))
    assert result.stability is None and result.clocks_mhz == {} and len(result.summary.samples) == 3
    assert context.warnings[0].startswith("clock probe failed (under dp_bf16, the add chain gives 3700 MHz")
