"""What CPU this is: identity, ISA, caches, memory and nominal clock.

Sources, in order of trust: Linux sysfs and /proc (exact, what the kernel sees), then py-cpuinfo (for
fields the kernel does not expose) and psutil (memory). py-cpuinfo's cache sizes are not used: on the CI
machine it reports a 1 MiB L3 where sysfs says 32 MiB.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from .pinning import physical_core_count, read_topology

SYSFS_CPU = Path("/sys/devices/system/cpu")
PROC_CPUINFO = Path("/proc/cpuinfo")

# ISA extensions worth reporting for FLOP/s and bandwidth (a subset of /proc/cpuinfo flags).
REPORTED_ISA = (
    "sse2", "avx", "avx2", "fma", "avx512f", "avx512vl", "avx512_bf16", "avx512_fp16", "amx_tile",
    "asimd", "asimdhp", "sve", "sve2", "sme",
)


@dataclass(frozen=True)
class CpuInfo:
    name: str
    vendor: str
    arch: str
    family: int | None
    model: int | None
    arm_part: int | None  # AArch64 "CPU part" (e.g. 0xd0c Neoverse N1); None on x86
    flags: frozenset[str]
    logical_cpus: int
    physical_cores: int
    caches: dict[str, int | None]  # l1d, l2, l3: bytes per instance, from sysfs
    l3_total_bytes: int | None  # sum over distinct L3 instances
    memory_bytes: int
    available_memory_bytes: int
    nominal_mhz: float | None
    nominal_source: str
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def isa(self) -> list[str]:
        return [flag for flag in REPORTED_ISA if flag in self.flags]

    @property
    def widest_simd_bits(self) -> int:
        if "avx512f" in self.flags:
            return 512
        if "avx2" in self.flags or "avx" in self.flags:
            return 256
        return 128


def parse_cpuinfo(text: str) -> dict[str, str]:
    """The fields of the first processor block of /proc/cpuinfo (AArch64 keeps some at the top level)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if "processor" in fields and ("flags" in fields or "Features" in fields):
                break
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def parse_size(text: str) -> int:
    """sysfs cache sizes: '48K', '1024K', '32768K', '2M' -> bytes."""
    match = re.fullmatch(r"(\d+)\s*([KMG]?)B?", text.strip(), flags=re.IGNORECASE)
    if not match:
        raise ValueError(f"unrecognised size {text!r}")
    return int(match.group(1)) * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[match.group(2).upper()]


def read_caches(sysfs: Path = SYSFS_CPU) -> tuple[dict[str, int | None], int | None]:
    """Per-instance sizes of L1d, L2 and L3 from cpu0, and the total L3 over distinct instances."""
    caches: dict[str, int | None] = {"l1d": None, "l2": None, "l3": None}
    for index in sorted((sysfs / "cpu0" / "cache").glob("index*")):
        level, kind, size = (_read(index / name) for name in ("level", "type", "size"))
        if not (level and kind and size):
            continue
        key = {"1": "l1d" if kind == "Data" else None, "2": "l2", "3": "l3"}.get(level)
        if key:
            caches[key] = parse_size(size)
    l3_instances: dict[str, int] = {}
    for index in sysfs.glob("cpu[0-9]*/cache/index3"):
        shared, size = _read(index / "shared_cpu_list"), _read(index / "size")
        if shared and size:
            l3_instances[shared] = parse_size(size)
    return caches, (sum(l3_instances.values()) if l3_instances else caches["l3"])


def nominal_clock(fields: dict[str, str], sysfs: Path = SYSFS_CPU) -> tuple[float | None, str]:
    """The clock that theoretical peaks are computed at, and where it came from.

    cpufreq's maximum is the highest clock the OS may request (single-core boost on most CPUs); the
    brand string's is the base clock; /proc/cpuinfo's 'cpu MHz' in a VM without cpufreq is usually the
    TSC rate, which can be well below the real boost clock.
    """
    max_khz = _read(sysfs / "cpu0" / "cpufreq" / "cpuinfo_max_freq")
    if max_khz and max_khz.isdigit():
        return int(max_khz) / 1000.0, "sysfs cpufreq cpuinfo_max_freq"
    match = re.search(r"@\s*([\d.]+)\s*GHz", fields.get("model name", ""))
    if match:
        return float(match.group(1)) * 1000.0, "brand string"
    if "cpu MHz" in fields:
        return float(fields["cpu MHz"]), "/proc/cpuinfo cpu MHz (no cpufreq; in a VM usually the TSC rate)"
    try:
        import cpuinfo

        hz = cpuinfo.get_cpu_info().get("hz_advertised")
        if hz:
            return hz[0] / 1e6, "py-cpuinfo hz_advertised"
    except Exception:  # py-cpuinfo shells out and can fail in odd ways; the clock is then unknown
        pass
    return None, "unknown: no cpufreq, brand-string clock or /proc/cpuinfo MHz"


def _int(text: str | None, base: int = 10) -> int | None:
    try:
        return int(text, base) if text is not None else None
    except ValueError:
        return None


def inspect_cpu() -> CpuInfo:
    text = _read(PROC_CPUINFO) or ""
    fields = parse_cpuinfo(text)
    sources = {"identity": "/proc/cpuinfo", "caches": "sysfs cpu0/cache", "memory": "psutil"}
    name = fields.get("model name") or fields.get("Model name")
    vendor = fields.get("vendor_id")
    flags_text = fields.get("flags") or fields.get("Features") or ""
    if not name or not vendor:
        import cpuinfo

        info = cpuinfo.get_cpu_info()
        name = name or info.get("brand_raw") or platform.processor() or "unknown"
        vendor = vendor or info.get("vendor_id_raw") or "unknown"
        flags_text = flags_text or " ".join(info.get("flags", []))
        sources["identity"] = "py-cpuinfo"
    implementer = fields.get("CPU implementer")
    if vendor == "unknown" and implementer:
        vendor = {"0x41": "ARM", "0x61": "Apple", "0xc0": "Ampere"}.get(implementer, implementer)
    caches, l3_total = read_caches()
    allowed = os.sched_getaffinity(0)
    memory = psutil.virtual_memory()
    mhz, mhz_source = nominal_clock(fields)
    return CpuInfo(
        name=name,
        vendor=vendor,
        arch=platform.machine(),
        family=_int(fields.get("cpu family")),
        model=_int(fields.get("model")),
        arm_part=_int(fields.get("CPU part"), 16),
        flags=frozenset(flags_text.split()),
        logical_cpus=len(allowed),
        physical_cores=physical_core_count(read_topology(allowed)),
        caches=caches,
        l3_total_bytes=l3_total,
        memory_bytes=memory.total,
        available_memory_bytes=memory.available,
        nominal_mhz=mhz,
        nominal_source=mhz_source,
        sources=sources,
    )
