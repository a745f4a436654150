"""What each kernel does, as data: FLOPs and bytes per element, declared once.

likwid-bench declares ``FLOPS`` and ``BYTES`` in each kernel file's header; hwbench does the same with a
frozen dataclass, and every GB/s and GFLOP/s figure is derived by ``work_rate`` alone.

Two byte counts are kept for bandwidth kernels (both go into the profile):

* ``bytes_stream``: what the kernel must read and write, the STREAM convention (triad: 3 x 8 bytes);
* ``bytes_traffic``: what actually crosses the memory bus. A normal store first reads the line it
  writes (write-allocate, or read-for-ownership), so every written array costs one extra read; a
  non-temporal store does not. (Some recent Intel cores elide that read for full-line writes; where they
  do, ``bytes_traffic`` overstates the traffic of the temporal kernels.)
"""

from __future__ import annotations

from dataclasses import dataclass

GIGA = 1e9


@dataclass(frozen=True)
class BandwidthSpec:
    """A STREAM-style kernel: per element, how many arrays it reads and writes."""

    name: str
    reads: int
    writes: int
    flops_per_element: int
    nontemporal: bool = False
    element_bytes: int = 8
    level: str = "dram"

    @property
    def bytes_stream(self) -> int:
        """Bytes per element by the STREAM convention: each array read or written once."""
        return (self.reads + self.writes) * self.element_bytes

    @property
    def bytes_traffic(self) -> int:
        """Bytes per element actually moved: plus one write-allocate read per array written, unless the
        stores are non-temporal."""
        allocate = 0 if self.nontemporal else self.writes
        return (self.reads + self.writes + allocate) * self.element_bytes


# STREAM (McCalpin, stream.c) byte and FLOP counts; dot is BabelStream's read-only kernel.
BANDWIDTH_SPECS: dict[str, BandwidthSpec] = {
    "copy": BandwidthSpec("copy", reads=1, writes=1, flops_per_element=0),
    "scale": BandwidthSpec("scale", reads=1, writes=1, flops_per_element=1),
    "add": BandwidthSpec("add", reads=2, writes=1, flops_per_element=1),
    "triad": BandwidthSpec("triad", reads=2, writes=1, flops_per_element=2),
    "dot": BandwidthSpec("dot", reads=2, writes=0, flops_per_element=2),
    "copy_nt": BandwidthSpec("copy_nt", reads=1, writes=1, flops_per_element=0, nontemporal=True),
    "scale_nt": BandwidthSpec("scale_nt", reads=1, writes=1, flops_per_element=1, nontemporal=True),
    "add_nt": BandwidthSpec("add_nt", reads=2, writes=1, flops_per_element=1, nontemporal=True),
    "triad_nt": BandwidthSpec("triad_nt", reads=2, writes=1, flops_per_element=2, nontemporal=True),
}


def work_rate(amount: float, seconds: float) -> float:
    """Bytes or FLOPs per second, in units of 1e9 (GB/s, GFLOP/s). The one place rates are derived."""
    if seconds <= 0:
        raise ValueError(f"non-positive duration {seconds!r}")
    return amount / seconds / GIGA


def select_kernels(spec: str | None, kernels: tuple[str, ...], groups: dict[str, tuple[str, ...]],
                   what: str = "kernel") -> tuple[str, ...]:
    """'triad,fma' -> the named kernels and groups' members, in the canonical order of ``kernels``; an
    unknown name is a UsageError (exit 2). None or '' selects every kernel."""
    from .errors import UsageError

    if spec is None or not spec.strip():
        return kernels
    chosen: set[str] = set()
    for name in (part.strip() for part in spec.split(",")):
        if name in groups:
            chosen.update(groups[name])
        elif name in kernels:
            chosen.add(name)
        else:
            raise UsageError(f"--kernels: unknown {what} {name!r}; choose from {', '.join([*groups, *kernels])}")
    return tuple(k for k in kernels if k in chosen)
