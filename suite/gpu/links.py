"""GPU-to-GPU bandwidth, measured the way nvbandwidth does, with NVML's figure for the link beside it.

For every ordered pair (source i, destination j) of the selected GPUs:

* ``ce_unidirectional``: copy-engine copies i -> j (``cudaMemcpyPeerAsync``: ``cupy.cuda.runtime.memcpyPeerAsync``)
  on a stream of the destination, nothing else running (nvbandwidth's ``device_to_device_memcpy_read_ce``);
* ``ce_bidirectional``: i -> j and j -> i at the same time, each on a stream of its destination; each direction's
  rate and their sum are recorded (nvbandwidth's ``device_to_device_bidirectional_memcpy_read_ce``);
* ``sm_read``: a copy kernel on j reading i's buffer through peer access (``copy`` of stream.cu, launched with
  the STREAM launch shape; nvbandwidth's ``device_to_device_memcpy_read_sm``);
* ``sm_bidirectional``: the same kernel on j reading i and on i reading j at the same time (nvbandwidth's
  ``device_to_device_bidirectional_memcpy_read_sm``), each direction and their sum.

Peer access is enabled with ``cudaDeviceEnablePeerAccess`` where ``cudaDeviceCanAccessPeer`` allows it; a pair
without it gets copy-engine figures only (the driver stages those through the host) and ``peer_access: false``.
Each sample is ``LOOPS`` back-to-back copies of one buffer between CUDA events (nvbandwidth: loopCount 16);
rate = bytes x copies / seconds (10^9 bytes per GB). Every copy is validated: the destination is cleared
before and compared element by element with the source's pattern after; a wrong copy is a MeasurementError.

The theoretical figure (one direction) is NVML's: NVLink links joining the pair (``nvmlDeviceGetNvLinkState``,
``nvmlDeviceGetNvLinkRemotePciInfo``, whose bus id is compared with CUDA's through ``pci.canonical_bus_id``; links
to an NVSwitch count for every peer) x the per-link rate of their version (``nvmlDeviceGetNvLinkVersion``, an
``nvmlNvlinkVersion_t``), else the narrower PCIe link of the two ends at its maximum generation and width
(``nvmlDeviceGetMaxPcieLinkGeneration`` and ``...Width``: an idle GPU downshifts its link, and the copies run
at the maximum; per-lane rates of the PCI-SIG specifications, see ``theory.pcie_gbps``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .. import catalog
from ..errors import MeasurementError
from ..kernel_spec import VectorLaunch
from ..stats import rounded, summarize
from .failures import cuda_failure
from .pci import canonical_bus_id, nvml_bus_id
from .theory import pcie_gbps

LOOPS = 16  # copies per sample (nvbandwidth's default loopCount)
BUFFER_BYTES = {True: 64 << 20, False: 256 << 20}  # per copy: --quick, full run (nvbandwidth: 64-512 MiB)
SAMPLES = {True: 3, False: 5}
NVML_FEATURE_ENABLED = 1
NVML_NVLINK_DEVICE_TYPE_SWITCH = 2
# One direction of one NVLink, GB/s, by nvmlNvlinkVersion_t as nvmlDeviceGetNvLinkVersion returns it (nvml.h:
# NVML_NVLINK_VERSION_1_0 = 1, 2_0 = 2, 2_2 = 3, 3_0 = 4, 3_1 = 5, 4_0 = 6, 5_0 = 7; 0 is INVALID). Rates from
# NVIDIA's architecture whitepapers: NVLink 1.0 20 GB/s per link per direction (P100: 4 links, 160 GB/s both
# ways); 2.x 25 GB/s (V100: 6 links, 300 GB/s); 3.x 25 GB/s (A100: 12 links, 600 GB/s); 4.0 25 GB/s (H100 SXM:
# 18 links, 900 GB/s); 5.0 50 GB/s (B200: 18 links, 1.8 TB/s).
NVLINK_VERSIONS = {1: "1.0", 2: "2.0", 3: "2.2", 4: "3.0", 5: "3.1", 6: "4.0", 7: "5.0"}
NVLINK_GBPS_PER_LINK = {1: 20.0, 2: 25.0, 3: 25.0, 4: 25.0, 5: 25.0, 6: 25.0, 7: 50.0}
NVLINK_SOURCE = ("NVIDIA architecture whitepapers: 20 GB/s (NVLink 1.0, P100), 25 GB/s (2.x V100, 3.x A100, 4.0 "
                 "H100), 50 GB/s (5.0, B200) per link per direction")


@dataclass(frozen=True)
class LinkTheory:
    gbps: float | None
    kind: str  # nvlink, pcie or unknown
    source: str


def _nvml_optional(read: Any, nvml: Any) -> Any:
    """An NVML query a GPU may not support (NVML_ERROR_NOT_SUPPORTED and the like): None."""
    try:
        return read()
    except nvml.NVMLError:
        return None


def _bus_id(info: Any) -> str | None:
    """The canonical bus id of an ``nvmlPciInfo_t`` (``busId``, else ``busIdLegacy``); None if it has none."""
    value = getattr(info, "busId", None) or getattr(info, "busIdLegacy", None)
    try:
        return canonical_bus_id(value) if value else None
    except ValueError:
        return None


def nvlinks_to(nvml: Any, handle: Any, peer_bus_id: str) -> tuple[int, int | None]:
    """(active NVLinks of ``handle`` that reach the peer directly or through an NVSwitch, their
    ``nvmlNvlinkVersion_t``); ``peer_bus_id`` in any form ``pci.canonical_bus_id`` reads."""
    count, version = 0, None
    peer = canonical_bus_id(peer_bus_id)
    for link in range(nvml.NVML_NVLINK_MAX_LINKS):
        state = _nvml_optional(lambda link=link: nvml.nvmlDeviceGetNvLinkState(handle, link), nvml)
        if state != NVML_FEATURE_ENABLED:
            continue
        remote = _nvml_optional(lambda link=link: nvml.nvmlDeviceGetNvLinkRemotePciInfo(handle, link), nvml)
        kind = _nvml_optional(lambda link=link: nvml.nvmlDeviceGetNvLinkRemoteDeviceType(handle, link), nvml)
        if kind == NVML_NVLINK_DEVICE_TYPE_SWITCH or (remote is not None and _bus_id(remote) == peer):
            count += 1
            version = _nvml_optional(lambda link=link: nvml.nvmlDeviceGetNvLinkVersion(handle, link), nvml) \
                or version
    return count, version


def link_theory(nvml: Any, handles: tuple[Any, Any], bus_ids: tuple[str, str]) -> LinkTheory:
    """One direction of the link between two GPUs, from NVML (see the module docstring)."""
    (a, b), (bus_a, bus_b) = handles, bus_ids
    links_a, version_a = nvlinks_to(nvml, a, bus_b)
    links_b, version_b = nvlinks_to(nvml, b, bus_a)
    links, version = min(links_a, links_b), version_a or version_b
    if links and version in NVLINK_GBPS_PER_LINK:
        per_link = NVLINK_GBPS_PER_LINK[version]
        return LinkTheory(links * per_link, "nvlink", f"{links} NVLink {NVLINK_VERSIONS[version]} links x "
                          f"{per_link:g} GB/s per direction (NVML nvmlDeviceGetNvLinkState/Version = {version}; "
                          f"{NVLINK_SOURCE})")
    ends = []
    for handle in (a, b):
        generation = _nvml_optional(lambda h=handle: nvml.nvmlDeviceGetMaxPcieLinkGeneration(h), nvml)
        width = _nvml_optional(lambda h=handle: nvml.nvmlDeviceGetMaxPcieLinkWidth(h), nvml)
        ends.append((pcie_gbps(generation, width), generation, width))
    if all(gbps for gbps, _, _ in ends):
        gbps, generation, width = min(ends)
        return LinkTheory(gbps, "pcie", f"PCIe gen {generation} x{width}, one direction, the narrower end at its "
                          "maximum (NVML nvmlDeviceGetMaxPcieLinkGeneration/Width: an idle GPU downshifts; PCI-SIG "
                          "per-lane rates)")
    return LinkTheory(None, "unknown", "unknown: NVML reported neither an NVLink nor a PCIe link")


class PeerCopies:
    """Buffers on every selected GPU, peer access where allowed, and the three copy methods between them."""

    def __init__(self, cp: Any, indices: Sequence[int], quick: bool):
        self.cp, self.indices, self.quick = cp, list(indices), quick
        runtime = cp.cuda.runtime
        self.kernel = catalog.kernel("gpu", "copy")
        assert self.kernel.module is not None  # the catalog's GPU copy kernel is CUDA code (stream.cu)
        self.elements = BUFFER_BYTES[quick] // self.kernel.element_bytes
        self.nbytes = self.elements * self.kernel.element_bytes
        self.peer = {(i, j): bool(runtime.deviceCanAccessPeer(j, i)) for i in indices for j in indices if i != j}
        self.source, self.target, self.streams, self.functions, self.blocks = {}, {}, {}, {}, {}
        from importlib import resources

        code = resources.files("hwbench.kernels").joinpath(f"cuda/{self.kernel.module.source}").read_text()
        for index in self.indices:
            with cp.cuda.Device(index):
                for peer in self.indices:  # j reads i's memory: enabled on j for i
                    if peer != index and self.peer[(peer, index)]:
                        try:
                            runtime.deviceEnablePeerAccess(peer)
                        except runtime.CUDARuntimeError as error:
                            if "AlreadyEnabled" not in str(error):
                                raise
                self.source[index] = self.pattern(index)
                self.target[index] = cp.empty(self.elements, dtype=cp.float64)
                self.streams[index] = cp.cuda.Stream(non_blocking=True)
                module = cp.RawModule(code=code, options=self.kernel.module.compile_options())
                self.functions[index] = module.get_function(self.kernel.entry)
                props = runtime.getDeviceProperties(index)
                # Resident blocks from the loaded kernel (its registers included): the driver's occupancy API.
                resident = cp.cuda.driver.occupancyMaxActiveBlocksPerMultiprocessor(
                    self.functions[index].kernel.ptr, self.kernel.constants["BLOCK"], 0)
                self.blocks[index] = props["multiProcessorCount"] * max(1, int(resident))
            # The buffers were written on this device's legacy default stream; the copies run on non-blocking
            # streams, which are not ordered after it.
            cp.cuda.Device(index).synchronize()

    def pattern(self, index: int) -> Any:
        """Device ``index``'s source: element k holds k + (index + 1) x elements (exact in fp64), so a copy from
        the wrong device or offset is caught; made on the current device."""
        return self.cp.arange(self.elements, dtype=self.cp.float64) + float((index + 1) * self.elements)

    def ce_copy(self, source: int, target: int) -> None:
        self.cp.cuda.runtime.memcpyPeerAsync(self.target[target].data.ptr, target, self.source[source].data.ptr,
                                             source, self.nbytes, self.streams[target].ptr)

    def sm_copy(self, source: int, target: int) -> None:
        vector = self.kernel.launch_as(VectorLaunch).vector_bytes
        n_vec = self.nbytes // vector
        with self.cp.cuda.Device(target), self.streams[target]:
            destination = self.target[target]
            self.functions[target]((self.blocks[target],), (self.kernel.constants["BLOCK"],),
                                   (self.source[source], destination, destination, 0.0, _int64(n_vec)))

    def check(self, source: int, target: int, method: str) -> None:
        cp = self.cp
        with cp.cuda.Device(target):
            self.streams[target].synchronize()
            if not bool(cp.array_equal(self.target[target], self.pattern(source))):
                raise MeasurementError(f"{method} copy cuda:{source} -> cuda:{target}: the destination differs from "
                                       "the source; no figure is reported")
            self.target[target].fill(-1.0)
            self.streams[target].synchronize()

    def clear(self, *targets: int) -> None:
        for target in targets:
            with self.cp.cuda.Device(target):
                self.target[target].fill(-1.0)
                self.cp.cuda.Device(target).synchronize()

    def timed(self, pairs: Sequence[tuple[int, int]], copy: Any) -> list[list[float]]:
        """``SAMPLES`` samples of ``LOOPS`` copies for each pair, all pairs at once; seconds per pair per sample."""
        cp = self.cp
        seconds: list[list[float]] = [[] for _ in pairs]
        for _ in range(SAMPLES[self.quick] + 1):  # the first round is a warm-up, discarded
            self.clear(*(target for _, target in pairs))
            events = []
            for source, target in pairs:
                with cp.cuda.Device(target):
                    start, end = cp.cuda.Event(), cp.cuda.Event()
                    start.record(self.streams[target])
                    for _ in range(LOOPS):
                        copy(source, target)
                    end.record(self.streams[target])
                    events.append((start, end))
            for k, (source, target) in enumerate(pairs):
                with cp.cuda.Device(target):
                    events[k][1].synchronize()
                    seconds[k].append(cp.cuda.get_elapsed_time(*events[k]) / 1e3)
                self.check(source, target, "kernel" if copy == self.sm_copy else "copy-engine")
        return [s[1:] for s in seconds]

    def rate(self, seconds: list[float]) -> dict:
        summary = summarize(self.nbytes * LOOPS, seconds)
        return {"gbps": rounded(summary.ceiling), "median_gbps": rounded(summary.median), "cv": rounded(summary.cv, 5),
                "samples": [rounded(x) for x in summary.samples]}


def _int64(value: int) -> Any:
    import numpy as np

    return np.int64(value)


def measure_links(indices: Sequence[int], quick: bool = False) -> dict:
    """The ``links`` section of a node's GPU profiles: the P2P matrix of ``indices`` (two or more GPUs). A CUDA or
    NVML call that fails is a MeasurementError (one line; the device profiles are kept)."""
    import cupy as cp
    import pynvml

    try:
        return _measure_links(cp, pynvml, indices, quick)
    except pynvml.NVMLError as error:
        raise cuda_failure("the GPU link matrix (NVML)", error) from None
    except (cp.cuda.runtime.CUDARuntimeError, cp.cuda.driver.CUDADriverError) as error:
        raise cuda_failure("the GPU link matrix", error) from None


def _measure_links(cp: Any, pynvml: Any, indices: Sequence[int], quick: bool) -> dict:
    pynvml.nvmlInit()
    copies = PeerCopies(cp, indices, quick)
    handles, bus_ids = {}, {}
    for index in indices:
        bus_ids[index] = cp.cuda.runtime.deviceGetPCIBusId(index)  # CUDA's form, 0000:3b:00.0
        handles[index] = pynvml.nvmlDeviceGetHandleByPciBusId(nvml_bus_id(bus_ids[index]))
    pairs = []
    for source in indices:
        for target in indices:
            if source == target:
                continue
            theory = link_theory(pynvml, (handles[source], handles[target]), (bus_ids[source], bus_ids[target]))
            ce = copies.rate(copies.timed([(source, target)], copies.ce_copy)[0])
            there, back = copies.timed([(source, target), (target, source)], copies.ce_copy)
            both: dict[str, Any] = {"forward": copies.rate(there), "reverse": copies.rate(back)}
            both["total_gbps"] = rounded(both["forward"]["gbps"] + both["reverse"]["gbps"])
            entry: dict[str, Any] = {"source": f"cuda:{source}", "target": f"cuda:{target}",
                     "peer_access": copies.peer[(source, target)], "theoretical_gbps": rounded(theory.gbps),
                     "theoretical_source": theory.source, "link": theory.kind, "ce_unidirectional": ce,
                     "ce_bidirectional": both}
            if copies.peer[(source, target)]:
                entry["sm_read"] = copies.rate(copies.timed([(source, target)], copies.sm_copy)[0])
            if copies.peer[(source, target)] and copies.peer[(target, source)]:
                there, back = copies.timed([(source, target), (target, source)], copies.sm_copy)
                entry["sm_bidirectional"] = {"forward": copies.rate(there), "reverse": copies.rate(back)}
                entry["sm_bidirectional"]["total_gbps"] = rounded(entry["sm_bidirectional"]["forward"]["gbps"]
                                                                  + entry["sm_bidirectional"]["reverse"]["gbps"])
            for method in ("ce_unidirectional", "sm_read"):
                measured = entry.get(method, {}).get("gbps")
                if measured and theory.gbps and measured > theory.gbps * 1.01:
                    entry.setdefault("measurement_error", []).append(
                        f"{method}: {measured:.1f} GB/s is above the link's {theory.gbps:.1f} GB/s")
            pairs.append(entry)
    return {
        "devices": [f"cuda:{index}" for index in indices],
        "method": (f"nvbandwidth's method: {LOOPS} back-to-back copies of {copies.nbytes} bytes per sample between "
                   f"CUDA events on the destination's stream, {SAMPLES[quick]} samples after one warm-up; ce: "
                   "cudaMemcpyPeerAsync; sm_read: stream.cu's copy kernel on the destination reading the source "
                   "through peer access; every copy validated element by element"),
        "counting": "bytes copied per second, one direction (ce_bidirectional: each direction while the other runs, "
                    "and their sum); 10^9 bytes per GB",
        "headline_rule": "gbps is the confirmed best sample (stats.CEILING_RULE), median_gbps beside it",
        "pairs": pairs,
    }
