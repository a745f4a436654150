"""The latency family on the CPU (kernels/cpu_latency.py): idle load-to-use latency over working sets from 4 KiB
to 4x the last-level cache, loaded DRAM latency at a series of injection rates, and core-to-core latency.

Idle sweep (lmbench's ``lat_mem_rd`` with MLC's random order; the chase itself is ``chase.py``): on the first
selected CPU, a validated random cycle through each working set's cache lines, chased for about
``sample_seconds`` per sample; a warning when the kernel granted the buffer no huge pages.

Loaded latency (Intel MLC's method): the first CPU chases the largest working set while every other selected CPU
moves its own DRAM-sized arrays (the catalog's ``traffic``) in bursts with ``delay`` time-stamp ticks between
them; from the longest delay (lightest load) to none (the heaviest), each point keeps the chase's latency and the
bandwidth the injectors moved. The profile says how many cores injected, and with which traffic.

Core-to-core (c2clat's method): for each pair of selected CPUs, a round of ping-pong over two cache lines;
one-way latency = round trip / 2. NUMA: where the selected CPUs span several nodes (sysfs), each node's first
CPU chases a DRAM chain first-touched by each node's first CPU: the matrix of MLC's headline.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..catalog import Kernel
from ..errors import MeasurementError, UsageError
from ..kernel_spec import ChaseLaunch, LoadedLaunch, PingPongLaunch
from ..kernels import cpu_latency
from ..kernels.cpu_llvm import CLOCK_SUPPORTED
from ..kernels.cpu_stream import aligned_empty, max_deviation
from ..record import LatencyPoint, LatencyRecord
from ..stats import RepetitionPolicy
from .chase import SEED, Chain, HugeBuffer, idle, measure_point, sweep_sizes, timed_chase, top_working_set
from .chase import anon_huge_bytes as anon_huge_bytes
from .clock import calibrate_timestamp_hz
from .family import CpuContext, CpuFamily, CpuFamilyResult

SYSFS_NODES = Path("/sys/devices/system/node")
LEAD_SECONDS = 0.002  # the chase starts this long after every injector has started
RETAKES_PER_SAMPLE = 3  # per loaded-latency point, repeats x this: samples in which a thread was preempted are
# taken again; on a shared machine most 4 ms samples of a niced run lose a CPU, so a budget of a few per point
# left points whose median was a preempted chase (2-7x the idle latency with the injector idle)
RUSAGE_THREAD = getattr(resource, "RUSAGE_THREAD", None)
INJECT_LIMIT_SECONDS = 10.0  # an injector stops by itself after this (a chaser descheduled for that long)
PING_DEADLINE_SECONDS = 2.0  # a ping-pong sample longer than this has lost its partner (preempted): error




def loaded_injection(context: CpuContext, kernel: Kernel, chain: Chain,
                     idle_ns: float) -> tuple[tuple[dict, ...], dict]:
    """The loaded-latency curve: the chase on the first CPU while every other selected CPU injects reads."""
    launch, quick = kernel.launch_as(LoadedLaunch), context.options.quick
    injectors = list(range(1, len(context.cpus)))
    definition = {"injecting_cores": len(injectors), "chasing_cpu": context.cpus[0],
                  "injecting_cpus": [context.cpus[i] for i in injectors], "working_set_bytes": chain.n * 64,
                  "burst_bytes": launch.burst_elements * 8,
                  "method": "Intel MLC's loaded latency: the chase on one core while the others move their own "
                            "DRAM-sized arrays (traffic) in bursts with a delay between bursts (time-stamp ticks); "
                            "lightest load first; the chase starts when every injector runs, plus a lead of "
                            f"{LEAD_SECONDS * 1e3:g} ms; a sample in which the chasing or an injecting thread lost "
                            "its CPU (getrusage involuntary context switches) is taken again, up to "
                            f"{RETAKES_PER_SAMPLE} times the repeats per point "
                            "(retaken_samples); preempted_samples: those kept after that budget"}
    if not injectors:
        definition["note"] = "one selected CPU: no core to inject from, so no loaded-latency curve"
        return (), definition
    tsc_hz = calibrate_timestamp_hz(0.02)
    cpu_latency.read_timestamp_now()  # compile outside the measurement
    traffic, burst = launch.traffic, launch.burst_elements
    inject = cpu_latency.injector(traffic)
    definition["traffic"] = traffic
    definition["traffic_rule"] = cpu_latency.TRAFFIC[traffic]
    definition["bytes_per_element"] = cpu_latency.TRAFFIC_BYTES[traffic]
    # Each injector's footprint: the chase's working set shared out (so the injectors' arrays together are as large,
    # 4x the LLC), at least min_bytes, split over the arrays its traffic touches; whole bursts of four streams.
    used = cpu_latency.TRAFFIC_ARRAYS[traffic]
    footprint = max(launch.min_bytes, chain.n * 64 // len(injectors))
    elements = footprint // 8 // len(used) // (4 * burst) * (4 * burst)
    arrays = {i: [aligned_empty(elements if k in used else 0) for k in range(3)] for i in injectors}
    context.pool.run([partial(_fill_ones, arrays.get(i, [])) for i in range(len(context.cpus))])
    flag = np.ones(8, dtype=np.int64)  # compile outside the measurement (stops at once)
    inject(*arrays[injectors[0]], burst, 1, int(flag.ctypes.data) + 8, int(flag.ctypes.data), 0)
    cpu_latency.wait_for_all(int(flag.ctypes.data), 1, 0)
    cpu_latency.wait_until(0)
    cpu_latency.signal(int(flag.ctypes.data))
    chase_seconds = launch.quick_chase_seconds if quick else launch.chase_seconds
    steps = cpu_latency.round_steps(int(chase_seconds / (idle_ns * 1e-9)), chain.unroll)
    points: list[dict[str, Any]] = []
    for delay in launch.quick_delays_ticks if quick else launch.delays_ticks:
        samples: list[float] = []
        rates: list[float] = []
        retaken = kept_preempted = 0
        while len(samples) < launch.repeats:
            stop = np.zeros(8, dtype=np.int64)
            ready = np.zeros(len(injectors), dtype=np.int64)  # each injector's word: 1 once it runs
            deadline = cpu_latency.read_timestamp_now() + int(INJECT_LIMIT_SECONDS * tsc_hz)
            tasks: list[Callable[[], object]] = [partial(
                loaded_chase, chain.chase, chain.position, steps, ready, int(LEAD_SECONDS * tsc_hz), deadline, stop)]
            tasks += [partial(timed_inject, inject, arrays[i], burst, delay, int(ready.ctypes.data) + 8 * k,
                              int(stop.ctypes.data), deadline, traffic) for k, i in enumerate(injectors)]
            _, results = context.pool.run(tasks)
            seconds, end, chaser_switches, all_started = results[0]
            chain.advance(end, steps)
            if not all_started or any(r[2] for r in results[1:]):
                raise MeasurementError(f"loaded latency: an injector did not start, or the chase outlasted the "
                                       f"injectors' limit ({INJECT_LIMIT_SECONDS:g} s), at delay {delay}: a thread "
                                       "was descheduled for seconds; run again on an idler machine")
            preempted = chaser_switches + sum(r[3] for r in results[1:])  # a thread lost its CPU mid-sample
            if preempted and retaken < RETAKES_PER_SAMPLE * launch.repeats:  # not a loaded chase: again
                retaken += 1
                continue
            kept_preempted += bool(preempted)
            samples.append(seconds / steps * 1e9)
            moved = burst * cpu_latency.TRAFFIC_BYTES[traffic]  # bytes per burst, to or from memory
            rates.append(sum(r[0] * moved / r[1] for r in results[1:]) / 1e9)
        points.append({"delay_ticks": delay, "samples_ns": samples, "injected_gbps": float(np.median(rates)),
                       "retaken_samples": retaken, "preempted_samples": kept_preempted})
    for i in injectors:  # the writing traffics copy or compute 1.0 into every element they wrote
        if any(max_deviation(array, 1.0) != 0.0 for array in arrays[i]):
            raise MeasurementError(f"loaded latency: an injector's {traffic} traffic left a wrong value in its "
                                   "arrays (every element must stay 1.0)")
    definition["tsc_mhz"] = round(tsc_hz / 1e6, 1)
    lost = [p["delay_ticks"] for p in points if p["preempted_samples"] * 2 > launch.repeats]
    if lost:
        context.warnings.append(f"latency: at injection delays {lost} most loaded samples kept a thread that lost its "
                                "CPU after every retake: those points measure the machine's other work, not the "
                                "injection; run again on an idler machine")
    return tuple(points), definition


def involuntary_switches() -> int:
    """Times the calling thread lost its CPU to another thread (getrusage RUSAGE_THREAD, Linux)."""
    return resource.getrusage(RUSAGE_THREAD).ru_nivcsw if RUSAGE_THREAD is not None else 0


def loaded_chase(chase: Callable[[int, int], int], start: int, steps: int, ready: np.ndarray, lead_ticks: int,
                 deadline: int, stop: np.ndarray) -> tuple[float, int, int, bool]:
    """The chaser of a loaded-latency sample: wait until every injector has started (its word in ``ready``), then
    ``lead_ticks`` more (they reach their rate), chase, then tell them to stop. Returns (seconds, end address,
    involuntary context switches during the chase, whether every injector started before ``deadline``)."""
    started = cpu_latency.wait_for_all(int(ready.ctypes.data), ready.size, deadline)
    cpu_latency.wait_until(cpu_latency.read_timestamp_now() + lead_ticks)
    switches = involuntary_switches()
    seconds, end = timed_chase(chase, start, steps)
    switches = involuntary_switches() - switches
    cpu_latency.signal(int(stop.ctypes.data))
    return seconds, end, switches, started


def _fill_ones(arrays: Sequence[np.ndarray]) -> None:
    """First touch by the injecting thread itself: its arrays' pages come from its node."""
    for array in arrays:
        array.fill(1.0)


def timed_inject(inject: Callable[..., tuple[int, float, int]], arrays: Sequence[np.ndarray], burst: int,
                 delay: int, ready: int, stop: int, deadline: int, traffic: str) -> tuple[int, float, bool, int, int]:
    """(bursts moved, seconds, whether the deadline rather than the chaser stopped it, involuntary context
    switches, the time stamp of its first burst) of one injector."""
    switches = involuntary_switches()
    began = time.perf_counter()
    bursts, total, started = inject(*arrays, burst, delay, ready, stop, deadline)
    seconds = time.perf_counter() - began
    switches = involuntary_switches() - switches
    expected = bursts * burst * cpu_latency.TRAFFIC_STREAMS[traffic] if traffic in cpu_latency.TRAFFIC_STREAMS \
        else 0
    if not total == expected:  # every element is 1.0: the sum of what was read is exact
        raise MeasurementError(f"loaded latency: the injector summed {total}, expected {expected}")
    return bursts, seconds, cpu_latency.read_timestamp_now() >= deadline, switches, started


def ping_pong(context: CpuContext, first: int, second: int, rounds: int, samples: int, tsc_hz: float) -> list[float]:
    """One-way latency samples (ns) between workers ``first`` and ``second`` (c2clat: round trip / 2)."""
    lines = cpu_latency_lines()
    a, b = int(lines.ctypes.data), int(lines.ctypes.data) + cpu_latency.LINE_BYTES
    found = []
    for _ in range(samples + 1):  # the first is a warm-up
        cpu_latency.reset_lines(lines)
        deadline = cpu_latency.read_timestamp_now() + int(PING_DEADLINE_SECONDS * tsc_hz)
        tasks: list[Callable[[], object]] = [idle] * len(context.cpus)
        tasks[first] = partial(timed_ping, a, b, rounds, deadline)
        tasks[second] = partial(cpu_latency.pong, a, b, rounds, deadline)
        _, results = context.pool.run(tasks)
        (done, seconds), echoed = results[first], results[second]
        if done != rounds or echoed != rounds or lines[0] != rounds - 1 or lines[8] != rounds - 1:
            raise MeasurementError(f"core-to-core latency between CPUs {context.cpus[first]} and "
                                   f"{context.cpus[second]}: the ping-pong did not complete {rounds} rounds (a "
                                   "thread was preempted for seconds); run again on an idle machine")
        found.append(seconds / rounds / 2 * 1e9)
    return found[1:]


def cpu_latency_lines() -> np.ndarray:
    """Two int64 cache lines, 64-byte aligned (16 words)."""
    raw = np.empty(16 + 8, dtype=np.int64)
    offset = (-raw.ctypes.data) % cpu_latency.LINE_BYTES // 8
    return raw[offset:offset + 16]


def timed_ping(a: int, b: int, rounds: int, deadline: int) -> tuple[int, float]:
    began = time.perf_counter()
    done = cpu_latency.ping(a, b, rounds, deadline)
    return done, time.perf_counter() - began


def core_to_core(context: CpuContext, kernel: Kernel) -> dict:
    launch = kernel.launch_as(PingPongLaunch)
    count = launch.quick_samples if context.options.quick else launch.samples
    samples = {}
    tsc_hz = calibrate_timestamp_hz(0.02)
    for i in range(len(context.cpus)):
        for j in range(i + 1, len(context.cpus)):
            found = ping_pong(context, i, j, launch.rounds, count, tsc_hz)
            samples[f"{context.cpus[i]}-{context.cpus[j]}"] = found
    return {"cpus": list(context.cpus), "samples_ns": samples, "rounds": launch.rounds,
            "method": "c2clat (Rigtorp): two pinned threads bounce two cache lines (acquire loads, release "
                      "stores); one-way latency = round-trip time / 2; each unordered pair once"}


def numa_nodes(cpus: Sequence[int], sysfs: Path = SYSFS_NODES) -> dict[int, list[int]]:
    """NUMA node -> the selected CPUs on it (sysfs ``node*/cpulist``); {} when sysfs has no nodes."""
    from .pinning import parse_cpu_list

    nodes = {}
    for path in sorted(sysfs.glob("node[0-9]*")):
        try:
            listed = parse_cpu_list((path / "cpulist").read_text().strip())
        except (OSError, UsageError):  # an empty cpulist (a memory-only node) is no CPU node
            continue
        mine = [cpu for cpu in cpus if cpu in listed]
        if mine:
            nodes[int(path.name[4:])] = mine
    return nodes


def numa_matrix(nodes: dict[int, list[int]], cpus: Sequence[int],
                chase_ns: Callable[[int, int], float]) -> dict:
    """MLC's NUMA matrix: ``chase_ns(chasing worker, first-touching worker)`` for the first selected CPU of
    each node, both ways; None where the selected CPUs are on one node."""
    if len(nodes) < 2:
        return {"nodes": len(nodes) or 1, "matrix_ns": None,
                "note": "the selected CPUs are on one NUMA node: no NUMA matrix"}
    first = {node: cpus.index(members[0]) for node, members in sorted(nodes.items())}
    matrix = {str(cpu_node): {str(mem_node): chase_ns(worker, first[mem_node]) for mem_node in first}
              for cpu_node, worker in first.items()}
    return {"nodes": len(nodes), "cpus": {str(n): cpus[w] for n, w in first.items()}, "matrix_ns": matrix,
            "method": "each node's first selected CPU chases a DRAM-sized chain first-touched (so placed) by each "
                      "node's first selected CPU; rows: the chasing node, columns: the memory's node"}


def numa_section(context: CpuContext, working_set: int, unroll: int, sample_seconds: float,
                 policy: RepetitionPolicy, sysfs: Path = SYSFS_NODES) -> dict:
    nodes = numa_nodes(context.cpus, sysfs)

    def chase_ns(chasing: int, touching: int) -> float:  # the median of the samples
        chain = Chain(context, HugeBuffer(working_set), working_set, unroll, worker=touching)
        chain.worker = chasing
        return round(float(np.median(measure_point(chain, sample_seconds, policy).samples_ns)), 3)

    return numa_matrix(nodes, context.cpus, chase_ns)


def _probe_clock(context: CpuContext) -> bool:
    """Whether this family measures the clock: only when no FMA or cache kernel (which measure it) is selected."""
    return CLOCK_SUPPORTED and not any(k.family in ("fma", "caches") for k in context.options.kernels)


def planned_steps(context: CpuContext, kernels: Sequence[Kernel]) -> int:
    """Progress steps of ``run``: the buffer and the sweep, the loaded curve, the pairs, the clock."""
    forms = {k.form for k in kernels}
    return (2 if forms & {"chase", "loaded"} else 0) + ("loaded" in forms) + ("pingpong" in forms) + \
        (1 if _probe_clock(context) else 0)


def run(context: CpuContext, kernels: Sequence[Kernel]) -> CpuFamilyResult:
    started = time.perf_counter()
    forms = {k.form: k for k in kernels}
    quick = context.options.quick
    chase_kernel = forms.get("chase") or forms.get("loaded")
    points: list[LatencyPoint] = []
    definition: dict = {}
    loaded: tuple[dict, ...] = ()
    loaded_definition: dict = {}
    numa = None
    if chase_kernel is not None:
        launch = chase_kernel.launch_as(ChaseLaunch)
        top = top_working_set(context, launch.llc_multiple)
        sample_seconds = launch.quick_sample_seconds if quick else launch.sample_seconds
        samples = launch.quick_samples if quick else launch.samples
        policy = RepetitionPolicy(warmups=1, min_repetitions=samples, min_seconds=0.0, max_repetitions=samples)
        llc = context.cpu.caches.get("l3") or context.cpu.caches.get("l2")
        steps = launch.quick_steps if quick else launch.steps
        sizes = sweep_sizes(launch.smallest_bytes, top, steps, llc) if "chase" in forms else [top]
        context.step("latency: map and link the chase buffer")
        buffer = HugeBuffer(top)
        unroll = launch.unroll
        cpu_latency.chase_kernel(unroll)(buffer.address, 0)  # compile outside the measurement
        # One random order of the largest working set; each smaller one keeps its lines in that order, which is a
        # uniformly random order of them too (a random permutation restricted to a subset stays uniform).
        top_order = cpu_latency.random_order(top // cpu_latency.LINE_BYTES, SEED)
        chain = None
        for size in sizes:
            lines = size // cpu_latency.LINE_BYTES
            chain = Chain(context, buffer, size, unroll, order=top_order if lines == top_order.size else
                          top_order[top_order < lines])
            point = measure_point(chain, sample_seconds, policy)
            if "chase" in forms:
                points.append(point)
        context.step("latency: idle sweep")
        huge = buffer.huge_bytes()
        definition = {
            "cpu": context.cpus[0], "sizes_bytes": sizes, "top_bytes": top, "llc_multiple": launch.llc_multiple,
            "line_bytes": cpu_latency.LINE_BYTES, "loads_per_trip": unroll,
            "sample_seconds": sample_seconds, "repetitions": policy.as_dict(),
            "huge_pages": {"advised": buffer.advised, "buffer_bytes": buffer.nbytes, "granted_bytes": huge,
                           "source": "AnonHugePages of the mapping in /proc/self/smaps"},
            "method": "dependent loads p = *p over a random cycle through every cache line of the working set "
                      "(the lines in a random order, NumPy's PCG64 permutation, each pointing at the next), one "
                      "pointer per line, on one pinned core; each chain validated (one cycle through every line) "
                      "and every chase's end address checked against the order",
        }
        if not huge:
            seen = "AnonHugePages 0" if huge == 0 else "/proc/self/smaps unreadable"
            context.warnings.append(
                f"latency: no transparent huge pages known for the chase buffer ({seen}; see "
                "/sys/kernel/mm/transparent_hugepage/enabled): DRAM latencies may include page-walk time")
        if "loaded" in forms and chain is not None:
            context.step("latency: loaded (bandwidth injection)")
            idle_ns = min(point.samples_ns)
            loaded, loaded_definition = loaded_injection(context, forms["loaded"], chain, idle_ns)
            loaded_definition["idle_samples_ns"] = list(point.samples_ns)
        numa = numa_section(context, top, unroll, sample_seconds, policy, SYSFS_NODES) if "chase" in forms else None
    c2c = None
    if "pingpong" in forms:
        context.step("latency: core to core")
        c2c = core_to_core(context, forms["pingpong"]) if len(context.cpus) > 1 else {
            "cpus": list(context.cpus), "samples_ns": {}, "note": "one selected CPU: no pair to measure"}
    clock = None
    if _probe_clock(context):
        from .fma import measure_clock

        context.step("clock")
        clock = measure_clock(context, [])
    definition["seconds"] = round(time.perf_counter() - started, 3)
    return CpuFamilyResult(clock=clock, latency=LatencyRecord(tuple(points), definition, loaded, loaded_definition,
                                                              c2c, numa))


FAMILY = CpuFamily("cpu", "latency", run, planned_steps)


__all__ = ["FAMILY", "HugeBuffer", "anon_huge_bytes", "numa_matrix", "numa_nodes", "planned_steps", "run",
           "sweep_sizes"]
