"""The theoretical calculator, on published examples and the micro-architecture table."""

from __future__ import annotations

import pytest

from conftest import make_cpu
from hwbench.cpu.smbios import MemoryDevice, parse_memory_devices
from hwbench.cpu.theory import CoreModel, assumed_core, identify_core
from hwbench.profile.build import peak_gflops, ridge_point


def test_10980xe_published_example():
    # Intel Core i9-10980XE: 16 cores, AVX-512 with two FMA units, 4.5 GHz all-core turbo.
    cpu = make_cpu(name="Intel(R) Core(TM) i9-10980XE CPU @ 3.00GHz", vendor="GenuineIntel", family=6, model=0x55)
    core = identify_core(cpu)
    assert core.fma_units == 2 and core.simd_bits == 512
    assert core.flop_per_cycle("fp32") == 64
    assert peak_gflops(16, 4500, core.flop_per_cycle("fp32")) == pytest.approx(4608.0)
    assert ridge_point(4608.0, 96.0) == pytest.approx(48.0)
    assert peak_gflops(16, 2900, core.flop_per_cycle("fp32")) == pytest.approx(2969.6)
    assert peak_gflops(16, 4500, core.flop_per_cycle("fp64")) == pytest.approx(2304.0)


@pytest.mark.parametrize("vendor, family, model, name, part, expected", [
    ("GenuineIntel", 6, 0x3F, "Intel(R) Xeon(R) CPU E5-2680 v3", None, ("Haswell", 2, 256)),
    ("GenuineIntel", 6, 0x55, "Intel(R) Xeon(R) Silver 4214 CPU", None, ("Skylake-SP / Cascade Lake", 1, 512)),
    ("GenuineIntel", 6, 0x55, "Intel(R) Xeon(R) Gold 5120 CPU", None, ("Skylake-SP / Cascade Lake", 1, 512)),
    ("GenuineIntel", 6, 0x55, "Intel(R) Xeon(R) Gold 5122 CPU", None, ("Skylake-SP / Cascade Lake", 2, 512)),
    ("GenuineIntel", 6, 0x55, "Intel(R) Xeon(R) Gold 6248 CPU", None, ("Skylake-SP / Cascade Lake", 2, 512)),
    ("GenuineIntel", 6, 0x8F, "Intel(R) Xeon(R) Platinum 8480+", None, ("Sapphire Rapids / Emerald Rapids", 2, 512)),
    ("GenuineIntel", 6, 0x97, "12th Gen Intel(R) Core(TM) i9-12900K", None, ("Alder Lake / Raptor Lake (P-core)", 2,
                                                                             256)),
    ("AuthenticAMD", 0x17, 0x01, "AMD EPYC 7601", None, ("Zen / Zen+", 2, 128)),
    ("AuthenticAMD", 0x17, 0x31, "AMD EPYC 7742", None, ("Zen 2", 2, 256)),
    ("AuthenticAMD", 0x19, 0x01, "AMD EPYC 7763", None, ("Zen 3", 2, 256)),
    ("AuthenticAMD", 0x19, 0x11, "AMD EPYC 9654", None, ("Zen 4", 2, 256)),
    ("AuthenticAMD", 0x1A, 0x02, "AMD EPYC", None, ("Zen 5", 2, 512)),
    ("AuthenticAMD", 0x1A, 0x24, "AMD Ryzen AI 9 HX 370", None, ("Zen 5", 2, 256)),
    ("unknown", None, None, "Neoverse-N1", 0xD0C, ("Neoverse N1", 2, 128)),
    ("unknown", None, None, "Neoverse-V2", 0xD4F, ("Neoverse V2", 4, 128)),
])
def test_identify_core(vendor, family, model, name, part, expected):
    core = identify_core(make_cpu(vendor=vendor, family=family, model=model, name=name, arm_part=part))
    assert (core.name, core.fma_units, core.simd_bits) == expected


def test_unknown_core_is_an_assumption():
    cpu = make_cpu(vendor="GenuineIntel", family=6, model=0x01)
    assert identify_core(cpu) is None
    assumed = assumed_core(cpu)
    assert assumed.simd_bits == 512 and "assumed" in assumed.source


def test_neoverse_v2_fp64_flop_per_cycle():
    assert CoreModel("Neoverse V2", 4, 128, "").flop_per_cycle("fp64") == 16


def test_ridge_point_of_an_unknown_roof():
    # (theory.dram_gbps, which the old test also covered, was never called: removed as dead code)
    assert ridge_point(None, 10.0) is None and ridge_point(100.0, None) is None


def _type17(width: int, size: int, speed: int) -> bytes:
    body = bytearray(0x28)
    body[0], body[1] = 17, 0x28
    body[0x0A:0x0C] = width.to_bytes(2, "little")
    body[0x0C:0x0E] = size.to_bytes(2, "little")
    body[0x15:0x17] = speed.to_bytes(2, "little")
    body[0x20:0x22] = speed.to_bytes(2, "little")
    return bytes(body) + b"DIMM\x00\x00"


def test_smbios_memory_devices():
    table = _type17(64, 16384, 3200) + _type17(64, 0, 0) + _type17(64, 16384, 3200) + bytes([127, 4, 0, 0, 0, 0])
    assert parse_memory_devices(table) == [MemoryDevice(64, 3200), MemoryDevice(64, 3200)]
