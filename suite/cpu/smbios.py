"""Theoretical DRAM bandwidth from the SMBIOS memory-device records (type 17), where Linux exposes them.

DMTF SMBIOS reference specification (DSP0134), section 7.18: Data Width at offset 0x0A, Size at 0x0C,
Speed at 0x15, Configured Memory Speed at 0x20 (2.7+), Extended Speed at 0x54 (3.3+), all little-endian.
/sys/firmware/dmi/tables/DMI is readable by root only, and VMs often expose no memory devices or no speed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

DMI_TABLE = Path("/sys/firmware/dmi/tables/DMI")


@dataclass(frozen=True)
class MemoryDevice:
    data_width_bits: int
    speed_mts: int


@dataclass(frozen=True)
class DramTheory:
    gbps: float | None
    source: str  # how it was computed, or why it is unknown


def _word(data: bytes, offset: int) -> int | None:
    return struct.unpack_from("<H", data, offset)[0] if offset + 2 <= len(data) else None


def parse_memory_devices(table: bytes) -> list[MemoryDevice]:
    """Populated memory devices with a known width and speed, from a raw SMBIOS structure table."""
    devices = []
    offset = 0
    while offset + 4 <= len(table):
        kind, length = table[offset], table[offset + 1]
        if length < 4:
            break
        formatted = table[offset:offset + length]
        if kind == 17:
            width, size = _word(formatted, 0x0A), _word(formatted, 0x0C)
            speed = _word(formatted, 0x20) or _word(formatted, 0x15)
            if speed == 0xFFFF and len(formatted) >= 0x58:
                speed = struct.unpack_from("<I", formatted, 0x54)[0]
            if size and size != 0xFFFF and width and width != 0xFFFF and speed and speed != 0xFFFF:
                devices.append(MemoryDevice(width, speed))
        if kind == 127:
            break
        end = table.find(b"\x00\x00", offset + length)  # strings area ends with a double NUL
        if end < 0:
            break
        offset = end + 2
    return devices


def dram_theory(table_path: Path = DMI_TABLE) -> DramTheory:
    try:
        table = table_path.read_bytes()
    except OSError as error:
        return DramTheory(None, f"SMBIOS table not readable ({table_path}: {error.strerror or error}); "
                                "run as root on bare metal to get it")
    devices = parse_memory_devices(table)
    if not devices:
        return DramTheory(None, "SMBIOS lists no memory device with a known speed and width (usual in VMs)")
    total = sum(d.data_width_bits / 8 * d.speed_mts * 1e6 for d in devices) / 1e9
    speeds = sorted({d.speed_mts for d in devices})
    return DramTheory(total, f"SMBIOS type 17: {len(devices)} populated DIMMs x {speeds} MT/s x data width, "
                             "assuming one DIMM per channel")
