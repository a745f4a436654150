"""PCI bus ids as CUDA and NVML write them, normalised by one function so that they can be compared.

CUDA's ``cudaDeviceGetPCIBusId`` writes ``domain:bus:device.function`` with a 4-digit domain (12 characters,
``0000:3b:00.0``); NVML's ``nvmlPciInfo_t.busId`` uses ``NVML_DEVICE_PCI_BUS_ID_FMT`` = ``%08X:%02X:%02X.0``
(8-digit domain, ``00000000:3B:00.0``) and ``busIdLegacy`` a 4-digit one (nvml.h). The digits are hexadecimal
in both; only the widths and the case differ.
"""

from __future__ import annotations

import re

NVML_BUS_ID_FORMAT = "{domain:08X}:{bus:02X}:{device:02X}.0"  # nvml.h NVML_DEVICE_PCI_BUS_ID_FMT
_BUS_ID = re.compile(r"^(?:([0-9a-fA-F]{1,8}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})(?:\.([0-7]))?$")


def parse_bus_id(value: str | bytes) -> tuple[int, int, int, int]:
    """(domain, bus, device, function) of a bus id in CUDA's or NVML's form; ValueError otherwise."""
    text = (value.decode() if isinstance(value, bytes) else str(value)).strip().rstrip("\x00")
    match = _BUS_ID.match(text)
    if not match:
        raise ValueError(f"not a PCI bus id: {text!r}")
    domain, bus, device, function = match.groups()
    return int(domain or "0", 16), int(bus, 16), int(device, 16), int(function or "0", 16)


def canonical_bus_id(value: str | bytes) -> str:
    """One spelling for comparisons: NVML's (8-digit domain, upper case, function 0)."""
    domain, bus, device, _ = parse_bus_id(value)
    return NVML_BUS_ID_FORMAT.format(domain=domain, bus=bus, device=device)


def nvml_bus_id(value: str | bytes) -> bytes:
    """The argument ``nvmlDeviceGetHandleByPciBusId`` takes, from CUDA's bus id."""
    return canonical_bus_id(value).encode()


__all__ = ["NVML_BUS_ID_FORMAT", "canonical_bus_id", "nvml_bus_id", "parse_bus_id"]
