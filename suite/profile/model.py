"""``hwbench.Profile``: a loaded profile and the roofline questions it answers.

The roofline model (Williams, Waterman and Patterson, CACM 2009):
    attainable FLOP/s = min(peak FLOP/s, intensity x bandwidth)
    time              = max(FLOPs / peak FLOP/s, bytes / bandwidth)
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ..errors import UsageError
from .files import dump_yaml, write_atomic
from .format import SCHEMA_VERSION, check_profile
from .reading import load_yaml, read_text
from .types import KernelEntry, ProfileData

if TYPE_CHECKING:
    from ..kernel_spec import Kernel

__all__ = ["COMPUTE_ROOFS", "ComputeRoof", "MemoryRoof", "Profile", "SCHEMA_VERSION"]


COMPUTE_ROOFS = ("fma", "add", "mul", "scalar_add", "gemm")  # Profile.compute_roof


@dataclass(frozen=True)
class ComputeRoof:
    """One compute roof of a profile: GFLOP/s, the key it was read from, the kernel that measured it, the
    instruction (or library call) it ran, its samples' coefficient of variation and its clock (where recorded)."""

    gflops: float
    where: str
    kernel: str | None
    instruction: str | None
    noise: float | None
    clock_mhz: float | None
    library: str | None = None  # the library and version a library roof (GEMM) was measured with


@dataclass(frozen=True)
class MemoryRoof:
    """One measured memory roof for an access mix: GB/s in the level's convention, where it comes from, the
    kernel's share of written bytes, and its noise (a kernel's cv, or a plateau's (best - median) / best)."""

    gbps: float
    where: str
    kernel: str
    write_share: float
    noise: float | None
    typical: bool = False  # a median (Profile.memory_roof(..., "median")); False: a ceiling


class Profile:
    """A loaded profile. ``data`` is the parsed YAML; the methods answer roofline questions from it."""

    def __init__(self, data: ProfileData | dict[str, Any], source: str = "<profile>") -> None:
        check_profile(data, source)
        # Parsed YAML (or the run path's plain dict) that passed the schema's checks: its sections are ProfileData's.
        self.data = cast(ProfileData, data)
        self.source = source

    # I/O ---------------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Profile:
        """The profile at ``path`` (``-``: standard input), read and parsed with every cost bounded
        (``reading``: a regular file only, a size cap, no duplicate keys, no alias bomb)."""
        return cls.from_yaml(read_text(path), os.fspath(path))

    @classmethod
    def from_yaml(cls, text: str, source: str = "<profile>") -> Profile:
        return cls(load_yaml(text, source), source)

    def to_yaml(self) -> str:
        return dump_yaml(self.data)

    def save(self, path: str | os.PathLike[str]) -> None:
        write_atomic(Path(path), self.to_yaml())

    # Accessors ---------------------------------------------------------------------------------

    @property
    def device_id(self) -> str:
        return str(self.data["device"]["id"])

    @property
    def precisions(self) -> list[str]:
        return list(self.data["compute"])

    def peak_gflops(self, precision: str = "fp64", theoretical: bool = False) -> float:
        entry = self.data["compute"].get(precision)
        if entry is None:
            have = ", ".join(self.precisions)
            raise UsageError(f"{self.source} has no {precision or repr(precision)} compute ceiling; " + (
                f"choose one it has: {have}" if have else "it has none (its run measured memory kernels only): "
                "measure them with 'hwbench run' without --kernels, or with --kernels fma"))
        key = "theoretical_gflops" if theoretical else "measured_gflops"
        value = entry.get("theoretical_gflops") if theoretical else entry.get("measured_gflops")
        if value is None:
            raise UsageError(f"{self.source}: compute.{precision}.{key} is unknown; use the other roof")
        return self._rate(value, f"compute.{precision}.{key}")

    def bandwidth_gbps(self, level: str = "dram", theoretical: bool = False) -> float:
        entry = self.data["memory"].get(level)
        if entry is None:
            raise UsageError(f"{self.source} has no memory level {level!r}; it has: "
                             f"{', '.join(self.data['memory']) or 'none'}")
        key = "theoretical_gbps" if theoretical else "measured_gbps"
        value = entry.get("theoretical_gbps") if theoretical else entry.get("measured_gbps")
        if value is None:
            reason = entry.get("theoretical_source", "not measured")
            raise UsageError(f"{self.source}: memory.{level}.{key} is unknown ({reason}); use the measured roof")
        return self._rate(value, f"memory.{level}.{key}")

    def memory_roof(self, level: str, write_share: float, statistic: str = "ceiling") -> MemoryRoof | None:
        """The measured memory roof of ``level`` for a program whose written bytes are ``write_share`` of the bytes
        it moves (in the level's convention: traffic at a CPU's DRAM, loads and stores elsewhere), or None.

        Bandwidth depends on the read/write mix (a store costs a write-allocate read on a CPU, and DRAM turns the
        bus around for writes), so the roof is that of the profile's kernel whose own write share is nearest the
        program's; among kernels of the same share, the fastest. Candidates: ``memory_candidates``.

        ``statistic``: ``ceiling`` (the kernel's confirmed best, ``kernels[].ceiling``; a plateau's
        ``best_gbps``) or ``median`` (its typical figure, ``kernels[].median``; a plateau's ``median_gbps``), the
        figure ``validate`` predicts a program's typical time with. A median above its own ceiling (two samples: the
        ceiling is then the slower) is no typical figure, and a kernel without one offers its ceiling, named so in
        ``where``; where some candidates of the level have a median, only those are offered."""
        candidates = self.memory_candidates(level, statistic)
        if not candidates:
            return None
        return min(candidates, key=lambda roof: (round(abs(roof.write_share - write_share), 6), -roof.gbps))

    def memory_candidates(self, level: str, statistic: str = "ceiling") -> list[MemoryRoof]:
        """Every measured memory roof of ``level`` for some access mix (``memory_roof``), at ``statistic``.

        Candidates: the STREAM kernels with normal stores and dot (``kernels``; never the non-temporal ones, whose
        stores a program does not get) and the cache sweep's all-threads plateaus (``caches.plateaus`` at
        ``run.threads``). At DRAM the STREAM kernels alone, when the profile has them: they are sized by STREAM's
        rule (each array at least 4x the last-level cache), while the sweep's DRAM plateau starts at 2x the cache
        for all its arrays together, where a victim L3 still answers part of the loads (a Zen 5 guest profile,
        2026-12-02 15:27 UTC: its copy plateau read 49 GB/s, the copy kernel 37)."""
        from ..catalog import CATALOG  # data only: each kernel's reads, writes and stores

        if statistic not in ("ceiling", "median"):
            raise ValueError(f"unknown statistic {statistic!r}; known: ceiling, median")
        device = "cpu" if self.device_id == "cpu" else "gpu"
        traffic = device == "cpu" and level == "dram"
        known = {kernel.name: kernel for kernel in CATALOG[device]}
        threads = self.data["run"].get("threads")
        candidates: list[MemoryRoof] = []

        def share(kernel: Kernel) -> float:
            moved = kernel.bytes_traffic if traffic else kernel.bytes_stream
            return kernel.writes * kernel.element_bytes / moved

        def positive(value: object) -> float | None:
            good = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
            return float(value) if good else None  # type: ignore[arg-type]  # narrowed by ``good``

        for plateau in self.data["caches"]["plateaus"] if "caches" in self.data else []:
            kernel = known.get(plateau["kernel"])
            best, median = positive(plateau.get("best_gbps")), positive(plateau.get("median_gbps"))
            if kernel is None or plateau.get("level") != level or plateau.get("threads") != threads or best is None:
                continue
            use_median = statistic == "median" and median is not None and median <= best
            figure = median if use_median and median is not None else best
            rate = figure * kernel.bytes_traffic / kernel.bytes_stream if traffic else figure
            noise = (best - median) / best if median is not None and median <= best else None
            named = "median_gbps" if use_median else "best_gbps"
            candidates.append(MemoryRoof(float(rate), f"caches.plateaus: {kernel.name} {named} on {threads} threads "
                                         f"at {level}" + (" in traffic bytes" if traffic and kernel.writes else ""),
                                         kernel.name, share(kernel), noise, use_median))
        for entry in self.data["kernels"]:
            kernel = known.get(entry["name"])
            ceiling, median = positive(entry.get("ceiling")), positive(entry.get("median"))
            use_median = statistic == "median" and median is not None and (ceiling is None or median <= ceiling)
            value = median if use_median else ceiling  # a profile before 0.2.0 records medians alone
            if (kernel is None or entry.get("level") != level or entry.get("unit") != "GB/s" or kernel.nontemporal
                    or value is None):
                continue
            rate = value * kernel.bytes_traffic / kernel.bytes_stream if traffic else value
            cv = entry.get("cv")
            noise = float(cv) if isinstance(cv, (int, float)) else None
            candidates.append(MemoryRoof(float(rate), f"kernels[{kernel.name}].{'median' if use_median else 'ceiling'}"
                                         + (" in traffic bytes" if traffic and kernel.writes else ""),
                                         kernel.name, share(kernel), noise, use_median))
        stream = [roof for roof in candidates if known[roof.kernel].family == "stream"]
        if traffic and stream:  # a CPU's DRAM: the STREAM-sized kernels alone (docstring)
            candidates = stream
        typical = [roof for roof in candidates if roof.typical]
        if statistic == "median" and typical:  # never a ceiling beside medians: it would win every tie
            candidates = typical
        return candidates

    def compute_roof(self, roof: str, precision: str, which: str = "measured") -> ComputeRoof | None:
        """The compute roof a program executing ``roof`` instructions in ``precision`` is bound by, or None where
        the profile has no such figure.

        ``roof``: ``fma`` (``compute.<precision>``, the FMA kernel), ``add``, ``mul``, ``scalar_add`` (the peaks
        without FMA, ``instruction_peaks.peaks.<roof>_<precision>``) or ``gemm`` (the library GEMM ceiling,
        ``instruction_peaks.peaks.gemm_<precision>``). ``which``: ``measured`` (the ceiling), ``typical`` (its
        kernel's median, ``kernels[].median``; the ceiling where none is recorded), ``theoretical`` (the paper figure
        at the nominal clock) or ``theoretical_at_measured_clock``."""
        if roof not in COMPUTE_ROOFS:
            raise ValueError(f"unknown compute roof {roof!r}; known: {', '.join(COMPUTE_ROOFS)}")
        if roof == "fma":
            entry: Mapping[str, object] = self.data["compute"].get(precision) or {}
            key = {"measured": "measured_gflops", "typical": "measured_gflops", "theoretical": "theoretical_gflops",
                   "theoretical_at_measured_clock": "theoretical_at_measured_clock_gflops"}[which]
            named = entry.get("kernel")
            kernel, where = named if isinstance(named, str) else None, f"compute.{precision}.{key}"
            noise = self._kernel_cv(kernel)
        else:
            name = f"{roof}_{precision}"
            peaks: Mapping[str, Mapping[str, object]] = (self.data["instruction_peaks"]["peaks"]
                                                         if "instruction_peaks" in self.data else {})
            entry = peaks.get(name) or {}
            if entry.get("unit", "GFLOP/s") != "GFLOP/s":
                return None
            key = "measured" if which == "typical" else which
            kernel, where = name, f"instruction_peaks.peaks.{name}.{key}"
            noise = self._kernel_cv(name)
        value = entry.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
            return None
        median = self._kernel_entry(kernel).get("median")
        if (which == "typical" and isinstance(median, (int, float)) and not isinstance(median, bool)
                and math.isfinite(median) and 0 < median <= value):  # a typical figure above the ceiling: not one
            value, where = median, f"kernels[{kernel}].median"
        clock, instruction = entry.get("clock_mhz"), entry.get("instruction")
        library = (self._kernel_entry(kernel).get("details") or {}).get("library")
        return ComputeRoof(float(value), where, kernel, instruction if isinstance(instruction, str) else kernel, noise,
                           float(clock) if isinstance(clock, (int, float)) else None,
                           library if isinstance(library, str) else None)

    def _kernel_entry(self, name: str | None) -> KernelEntry | Mapping[str, Any]:
        """The ``kernels`` entry of kernel ``name``, or an empty mapping."""
        for entry in self.data["kernels"]:
            if entry["name"] == name:
                return entry
        return {}

    def kernel_median(self, name: str | None) -> float | None:
        """Kernel ``name``'s median rate (``kernels[].median``), or None where the profile has none."""
        median = self._kernel_entry(name).get("median")
        if isinstance(median, bool) or not isinstance(median, (int, float)):
            return None
        return float(median) if math.isfinite(median) and median > 0 else None

    def kernel_pass_medians(self, name: str | None) -> list[float] | None:
        """The median rate of each interleaved pass of kernel ``name`` (its ``samples`` in time order, split at
        ``details.samples_per_pass``), or None where the profile does not record the passes (before hwbench
        recorded them, or a kernel timed in one block)."""
        entry = self._kernel_entry(name)
        counts = (entry.get("details") or {}).get("samples_per_pass")
        samples = entry.get("samples") or []
        if not isinstance(counts, list) or len(counts) < 2 or sum(counts) != len(samples) or min(counts) < 1:
            return None
        medians, start = [], 0
        for count in counts:
            medians.append(statistics.median(samples[start:start + count]))
            start += count
        return medians

    def _kernel_cv(self, name: str | None) -> float | None:
        """The recorded coefficient of variation of kernel ``name``'s samples (``kernels[].cv``), or None."""
        cv = self._kernel_entry(name).get("cv")
        return float(cv) if isinstance(cv, (int, float)) else None

    def _rate(self, value: object, where: str) -> float:
        """A roof read from the profile: a finite positive number, else a UsageError naming the key (the
        loader checks this too; ``data`` can be changed after loading)."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UsageError(f"{self.source}: {where} is {value!r}, not a number; re-run 'hwbench run'")
        if not (math.isfinite(value) and value > 0):
            shown = int(value) if math.isfinite(value) and float(value).is_integer() else value
            raise UsageError(f"{self.source}: {where} is {shown}; a roof must be a positive finite number: "
                             "re-run 'hwbench run'")
        return float(value)

    # Roofline model ----------------------------------------------------------------------------

    def attainable(self, intensity: float, precision: str = "fp64", theoretical: bool = False,
                   level: str = "dram") -> float:
        """Attainable FLOP/s at ``intensity`` FLOP per byte: min(peak, intensity x bandwidth)."""
        if not (math.isfinite(intensity) and intensity >= 0):
            raise UsageError(f"arithmetic intensity {intensity} must be a finite non-negative number")
        peak = self.peak_gflops(precision, theoretical) * 1e9
        bandwidth = self.bandwidth_gbps(level, theoretical) * 1e9
        return min(peak, intensity * bandwidth)

    def predict_time(self, flops: float, bytes_moved: float, precision: str = "fp64",
                     theoretical: bool = False, level: str = "dram") -> float:
        """Seconds a kernel of ``flops`` and ``bytes_moved`` needs at best: max(F / peak, B / bandwidth)."""
        return max(self.compute_time(flops, precision, theoretical),
                   self.memory_time(bytes_moved, level, theoretical))

    def compute_time(self, flops: float, precision: str = "fp64", theoretical: bool = False) -> float:
        _check_work(flops, "flops")
        return flops / (self.peak_gflops(precision, theoretical) * 1e9)

    def memory_time(self, bytes_moved: float, level: str = "dram", theoretical: bool = False) -> float:
        _check_work(bytes_moved, "bytes")
        return bytes_moved / (self.bandwidth_gbps(level, theoretical) * 1e9)


def _check_work(value: float, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value >= 0):
        raise UsageError(f"{what} {value!r} must be a finite non-negative number")


def device_model(device: Mapping[str, Any]) -> str:
    """A device's model as the gates tell models apart (``compare``'s same-device check, ``history``'s series,
    ``fleet``'s groups): its name, and for a CPU the family and model numbers the profile records, since the
    name alone ("AMD EPYC") is the same for a Zen 3 and a Zen 5."""
    name, family, model = str(device.get("name", "")), device.get("family"), device.get("model")
    if type(family) is int and type(model) is int:  # not bool, which is an int too
        return f"{name} (family {family} model {model})"
    return name
