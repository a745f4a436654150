"""Theoretical ceilings: the paper numbers hwbench compares its measurements with.

Compute (per precision):   cores x clock x FMA units x SIMD lanes x 2 FLOP per FMA
(The arithmetic is done by the profile builder, hwbench.profile.build; the DRAM figure comes from SMBIOS,
smbios.py.)

FMA units and their full-rate width come from a table keyed on vendor, family, model (x86) or CPU part
(Arm), with the source of each entry: Intel's optimisation manual (248966), AMD's software optimisation
guides (Zen 1-5), Arm's Neoverse software optimisation guides, and Agner Fog's instruction tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .machine import CpuInfo

FLOPS_PER_FMA = 2
ELEMENT_BITS = {"fp64": 64, "fp32": 32}


@dataclass(frozen=True)
class CoreModel:
    """How many FMA units a core has and the widest vector they run at full rate."""

    name: str
    fma_units: int
    simd_bits: int
    source: str

    def flop_per_cycle(self, precision: str) -> int:
        """FLOP per cycle per core: units x lanes x 2."""
        return self.fma_units * (self.simd_bits // ELEMENT_BITS[precision]) * FLOPS_PER_FMA


INTEL_SDM = "Intel 64 and IA-32 Architectures Optimization Reference Manual (248966)"
AMD_SOG = "AMD Software Optimization Guide for the {} microarchitecture"
ARM_SOG = "Arm Neoverse {} Software Optimization Guide"

# Intel family 6 model numbers (Intel SDM vol. 4, table 2-1) -> core.
_INTEL_MODELS: dict[str, tuple[set[int], int, int]] = {
    "Haswell": ({0x3C, 0x3F, 0x45, 0x46}, 2, 256),
    "Broadwell": ({0x3D, 0x47, 0x4F, 0x56}, 2, 256),
    "Skylake (client)": ({0x4E, 0x5E, 0x8E, 0x9E, 0xA5, 0xA6}, 2, 256),
    "Skylake-SP / Cascade Lake": ({0x55}, 2, 512),
    "Ice Lake-SP": ({0x6A, 0x6C}, 2, 512),
    # Client Ice Lake / Tiger Lake: one 512-bit FMA (ports 0+1 fused) = two 256-bit: same FLOP/cycle.
    "Ice Lake / Tiger Lake (client)": ({0x7D, 0x7E, 0x8C, 0x8D}, 2, 256),
    "Sapphire Rapids / Emerald Rapids": ({0x8F, 0xCF}, 2, 512),
    "Granite Rapids": ({0xAD, 0xAE}, 2, 512),
    # Hybrid client parts: P-core figures (Golden Cove and later without AVX-512; E-cores are slower).
    "Alder Lake / Raptor Lake (P-core)": ({0x97, 0x9A, 0xB7, 0xBA, 0xBF}, 2, 256),
    "Meteor Lake / Arrow Lake / Lunar Lake (P-core)": ({0xAA, 0xAC, 0xC5, 0xC6, 0xBD}, 2, 256),
}

# Xeon SKUs of Skylake-SP, Cascade Lake and Ice Lake-SP with a single 512-bit FMA unit (Intel ARK:
# "# of AVX-512 FMA Units"): Bronze, Silver, and Gold 5xxx except the 5122.
_ONE_FMA_XEON = re.compile(r"Xeon\(R\)\s+(Bronze|Silver|Gold\s+5(?!122)\d{3})", re.IGNORECASE)


def _amd_core(family: int, model: int) -> CoreModel | None:
    if family == 0x17:
        if model < 0x30:  # Zen / Zen+: AVX2 split into two 128-bit halves
            return CoreModel("Zen / Zen+", 2, 128, AMD_SOG.format("Zen"))
        return CoreModel("Zen 2", 2, 256, AMD_SOG.format("Zen 2"))
    if family == 0x19:
        zen4 = 0x10 <= model <= 0x1F or 0x60 <= model <= 0x7F or 0xA0 <= model <= 0xAF
        if zen4:  # AVX-512 executes as two 256-bit halves: full rate is 256 bits
            return CoreModel("Zen 4", 2, 256, AMD_SOG.format("Zen 4"))
        return CoreModel("Zen 3", 2, 256, AMD_SOG.format("Zen 3"))
    if family == 0x1A:
        # Server (Turin, models 0x00-0x1F) and desktop (Granite Ridge, 0x40-0x4F) Zen 5 have a full
        # 512-bit datapath; mobile parts (Strix, Krackan: 0x20-0x2F, 0x60-0x7F) keep 256 bits.
        full_width = model <= 0x1F or 0x40 <= model <= 0x4F
        return CoreModel("Zen 5", 2, 512 if full_width else 256, AMD_SOG.format("Zen 5"))
    return None


# Arm "CPU part" numbers (Arm TRMs) -> (name, 128-bit FMA pipes). SVE on V1 is 2x256 = 4x128 bits.
_ARM_PARTS = {
    0xD0C: ("Neoverse N1", 2), 0xD49: ("Neoverse N2", 2), 0xD8E: ("Neoverse N3", 2),
    0xD40: ("Neoverse V1", 4), 0xD4F: ("Neoverse V2", 4), 0xD84: ("Neoverse V3", 4),
}


def identify_core(cpu: CpuInfo) -> CoreModel | None:
    """The core's FMA configuration, or None when the table does not know it."""
    if cpu.vendor == "GenuineIntel" and cpu.family == 6 and cpu.model is not None:
        for name, (models, units, bits) in _INTEL_MODELS.items():
            if cpu.model in models:
                if bits == 512 and _ONE_FMA_XEON.search(cpu.name):
                    units = 1
                return CoreModel(name, units, bits, INTEL_SDM)
        return None
    if cpu.vendor == "AuthenticAMD" and cpu.family is not None and cpu.model is not None:
        return _amd_core(cpu.family, cpu.model)
    if cpu.arm_part in _ARM_PARTS:
        name, pipes = _ARM_PARTS[cpu.arm_part]
        return CoreModel(name, pipes, 128, ARM_SOG.format(name.split()[-1]))
    return None


def assumed_core(cpu: CpuInfo) -> CoreModel:
    """For CPUs outside the table: two FMA units at the widest ISA width. Marked as an assumption."""
    return CoreModel(f"unknown ({cpu.vendor} family {cpu.family} model {cpu.model})", 2,
                     cpu.widest_simd_bits, "assumed from ISA flags: micro-architecture not in hwbench's table")


# Cache bandwidth per core ---------------------------------------------------------------------------------
# Bytes per cycle per core: L1D loads and stores (ports x width at full vector width), and lines filled from L2
# into L1D. Only entries whose figures the vendor's guide states; other cores get no cache paper figure.


@dataclass(frozen=True)
class CacheWidths:
    l1_load: int  # bytes per cycle per core the L1D can load (load ports x width)
    l1_store: int  # bytes per cycle per core it can store
    l2_fill: int | None  # bytes per cycle per core from L2 into L1D (None: not stated)
    source: str

    def l1_bytes_per_cycle(self, reads: int, writes: int) -> float:
        """Bytes per cycle of a kernel doing ``reads`` loads and ``writes`` stores per element, counted the
        STREAM way, when the load or the store ports are the bottleneck."""
        limits = [self.l1_load * (reads + writes) / reads] if reads else []
        limits += [self.l1_store * (reads + writes) / writes] if writes else []
        return min(limits)


_INTEL_CACHE = INTEL_SDM + ", cache characteristics tables (L1D: 2 loads + 1 store per cycle; L2: peak 64 bytes/cycle)"
_GOLDEN_COVE = INTEL_SDM + ", Golden Cove (L1D: 3 loads + 2 stores of 256 bits per cycle; L2: 64 bytes/cycle)"
_CACHE_WIDTHS: dict[tuple[str, int], CacheWidths] = {  # (core name, full-rate SIMD bits) -> widths
    **{(name, 256): CacheWidths(64, 32, 64, _INTEL_CACHE) for name in ("Haswell", "Broadwell", "Skylake (client)")},
    **{(name, 512): CacheWidths(128, 64, 64, _INTEL_CACHE) for name in (
        "Skylake-SP / Cascade Lake", "Ice Lake-SP", "Sapphire Rapids / Emerald Rapids", "Granite Rapids")},
    # Client Sunny/Willow Cove: 2 loads + 1 store per cycle at the 256-bit width hwbench's kernels use there.
    ("Ice Lake / Tiger Lake (client)", 256): CacheWidths(64, 32, 64, _INTEL_CACHE),
    ("Alder Lake / Raptor Lake (P-core)", 256): CacheWidths(96, 64, 64, _GOLDEN_COVE),
    ("Zen / Zen+", 128): CacheWidths(32, 16, 32, AMD_SOG.format("Zen") + " (L1D: 2 loads + 1 store of 128 bits per "
                                                                       "cycle; L2 to L1: 32 bytes/cycle)"),
    **{(name, 256): CacheWidths(64, 32, 32, AMD_SOG.format(name) + " (L1D: 2 loads + 1 store of 256 bits per cycle; "
                                                                   "L2 to L1: 32 bytes/cycle)")
       for name in ("Zen 2", "Zen 3")},
    ("Zen 4", 256): CacheWidths(64, 32, None, AMD_SOG.format("Zen 4") + " (L1D: 2 loads + 1 store of 256 bits per "
                                                                       "cycle; L2 fill width not stated)"),
    ("Zen 5", 512): CacheWidths(128, 64, 64, AMD_SOG.format("Zen 5") + " (L1D: 2 loads + 1 store of 512 bits per "
                                                                      "cycle; L2 to L1: 64 bytes/cycle)"),
}


def cache_widths(core: CoreModel) -> CacheWidths | None:
    """The L1D and L2 bandwidth of ``core`` per cycle, or None when the table does not state them."""
    return _CACHE_WIDTHS.get((core.name, core.simd_bits))


# Low-precision instructions per cycle per core ----------------------------------------------------------------
# (core name, full-rate SIMD bits) -> {(kernel kind, register bits): (instructions per cycle, source)}. Only rates
# that follow from a vendor guide's pipe description (and, for Zen 5, were confirmed by measurement); any other core
# gets no paper figure for these kernels (the measured ceiling and its clock are still reported). FLOP or OP per cycle
# = rate x ops per instruction (kernels/cpu_lowp.py: cpufp's counting). Zen 5 runs the 512-bit dot products on its two
# 512-bit FP multiply/FMA pipes, one each per cycle; Zen 4 splits a 512-bit instruction into two 256-bit halves on the
# same two pipes, so one per cycle. Intel AMX: one 16x16 tile product (tdpbf16ps, tdpbusd) every 16 cycles per core
# (Intel: 1,024 bf16 FLOP and 2,048 int8 OP per cycle per core); AVX512_FP16 and VNNI run on the two FMA ports.
_ZEN5_LOWP = (AMD_SOG.format("Zen 5") + " (two 512-bit FP multiply/FMA pipes; 2.0 dot products per cycle measured on "
              "a Zen 5 EPYC, docs/precisions.md)")
_ZEN4_LOWP = AMD_SOG.format("Zen 4") + " (512-bit operations as two 256-bit halves on the two FP multiply/FMA pipes)"
_SPR_LOWP = (INTEL_SDM + ", Sapphire Rapids (ports 0 and 5: 512-bit FMA, AVX512_FP16 and VNNI; AMX TMUL: one "
             "16x16 tile product per 16 cycles, 1,024 bf16 FLOP / 2,048 int8 OP per cycle per core)")
_LOWP_RATES: dict[tuple[str, int], dict[tuple[str, int], tuple[float, str]]] = {
    ("Zen 5", 512): {("dpbf16ps", 512): (2.0, _ZEN5_LOWP), ("vpdpbusd", 512): (2.0, _ZEN5_LOWP),
                     ("vpdpbusd", 256): (2.0, _ZEN5_LOWP)},
    ("Zen 5", 256): {("dpbf16ps", 512): (1.0, _ZEN5_LOWP), ("vpdpbusd", 512): (1.0, _ZEN5_LOWP),
                     ("vpdpbusd", 256): (2.0, _ZEN5_LOWP)},
    ("Zen 4", 256): {("dpbf16ps", 512): (1.0, _ZEN4_LOWP), ("vpdpbusd", 512): (1.0, _ZEN4_LOWP)},
    **{(name, 512): {("fmaph", 512): (2.0, _SPR_LOWP), ("vpdpbusd", 512): (2.0, _SPR_LOWP),
                     ("tdpbf16ps", 0): (1 / 16, _SPR_LOWP), ("tdpbusd", 0): (1 / 16, _SPR_LOWP)}
       for name in ("Sapphire Rapids / Emerald Rapids", "Granite Rapids")},
}


def instruction_rate(core: CoreModel, kind: str, bits: int) -> tuple[float, str] | None:
    """(instructions per cycle per core, source) of a low-precision kernel's instruction, or None when no table
    states it. A one-FMA-unit Xeon (``fma_units == 1``) runs half the vector rate; AMX is unaffected."""
    found = _LOWP_RATES.get((core.name, core.simd_bits), {}).get((kind, bits))
    if found is None:
        return None
    rate, source = found
    if core.fma_units == 1 and bits:
        rate /= 2
    return rate, source


# Add and multiply instructions per cycle per core, without FMA (kernels/cpu_mix.py) ------------------------------
# core name -> {operation: (instructions per cycle at the full-rate width, source)}; a scalar add issues on the same
# pipes at the same rate. Zen 2-5: FADD on FP pipes 2 and 3, FMUL (and FMA) on pipes 0 and 1 (AMD SOG, "Floating
# Point Unit"). Haswell and Broadwell: FP add on port 1 only, multiply on ports 0 and 1; Skylake and later Intel
# cores: add, multiply and FMA on ports 0 and 1 (0 and 5 at 512 bits). Other cores: no paper figure.
_ZEN_PIPES = " (FADD on FP pipes 2 and 3, FMUL on pipes 0 and 1)"
_MIX_RATES: dict[str, dict[str, tuple[float, str]]] = {
    **{name: {"add": (2.0, AMD_SOG.format(name) + _ZEN_PIPES), "mul": (2.0, AMD_SOG.format(name) + _ZEN_PIPES)}
       for name in ("Zen 2", "Zen 3", "Zen 4", "Zen 5")},
    **{name: {"add": (1.0, INTEL_SDM + " (FP add on port 1)"), "mul": (2.0, INTEL_SDM + " (FP multiply on ports 0 "
                                                                                       "and 1)")}
       for name in ("Haswell", "Broadwell")},
    **{name: {"add": (2.0, INTEL_SDM + " (FP add and multiply on the two FMA ports)"),
              "mul": (2.0, INTEL_SDM + " (FP add and multiply on the two FMA ports)")}
       for name in ("Skylake (client)", "Skylake-SP / Cascade Lake", "Ice Lake-SP", "Ice Lake / Tiger Lake (client)",
                    "Sapphire Rapids / Emerald Rapids", "Granite Rapids", "Alder Lake / Raptor Lake (P-core)",
                    "Meteor Lake / Arrow Lake / Lunar Lake (P-core)")},
}


def mix_rate(core: CoreModel, operation: str) -> tuple[float, str] | None:
    """(add or multiply instructions per cycle per core, source), or None when no table states it. A one-FMA-unit
    Xeon runs its 512-bit adds and multiplies on one port too: half the rate."""
    found = _MIX_RATES.get(core.name, {}).get(operation)
    if found is None:
        return None
    rate, source = found
    return (rate / 2 if core.fma_units == 1 else rate), source
