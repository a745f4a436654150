"""``hwbench validate``'s latency-bound CPU workloads: programs whose next address depends on the last load, so a
roofline cannot predict them and the profile's latency ceilings can.

* ``random_walk``: DeepWalk's sampler (Perozzi, Al-Rfou and Skiena, KDD 2014): a walk over a random graph in CSR
  form (vertices with 1 to 7 out-edges to uniformly random vertices), each step to a uniformly random out-neighbour
  of the current vertex. A step reads ``row_ptr[v]`` (the vertex's edge range) and then ``col[row_ptr[v] + r]``
  (the next vertex): two dependent loads, each to a random line of an array larger than the last-level cache.
  The random number comes from a xorshift64 generator that does not depend on the walk, so it is off the chain.
* ``hash_walk``: a chain of lookups in an open-addressing hash table (linear probing, load factor 1/2, key and
  value in one 16-byte slot): each value is the next key, as when resolving a chain of references stored in a
  hash map. A lookup reads the key's home line, and the next line when its probe run crosses into it; which lines
  each key's lookup touches is counted from the built table (``lines_per_lookup``).

Both run single-threaded (a dependent chain has no parallelism to give threads), over arrays in memory advised
``MADV_HUGEPAGE`` (as the chase that measured the latencies was), and continue where the last call ended, so no
call re-reads lines an earlier one left in cache. Validation: the walk's last call is replayed in plain Python
(the walk is deterministic), and every hash-walk call must end at the key the chain's order puts there.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from ..errors import MeasurementError
from ..record import ProgressCallback
from ..stats import RepetitionPolicy
from .result import WorkloadRun
from .workload import time_calls

HUGE_PAGE = 2 * 2**20
MAX_DEGREE = 7  # out-degrees uniform in 1..MAX_DEGREE (mean 4)
SLOT_WORDS = 2  # key, value (int64 each): 4 slots per 64-byte line
LINE_SLOTS = 4
HASH_MULTIPLIER = np.uint64(0xBF58476D1CE4E5B9)  # Fibonacci-style multiplicative hashing (Knuth, TAOCP 6.4)
KEY_MULTIPLIER = 0x9E3779B97F4A7C15  # odd: i -> i x K mod 2^64 is a bijection, so the keys are distinct
XORSHIFT_SEED = 0x2545F4914F6CDD1D
STEPS = 5_000  # dependent steps per call: 1-2 ms at DRAM latency, as short as the chase's samples (2 ms)


@dataclass(frozen=True)
class LatencyPlan:
    """Sizes: the graph's vertices and the table's slots, for footprints of at least 4x the last-level cache
    (``multiple`` x LLC bytes, as the chase's largest working set); ``steps`` per call of either walk."""

    vertices: int
    slots: int
    steps: int

    @classmethod
    def for_bytes(cls, footprint_bytes: int) -> LatencyPlan:
        """``footprint_bytes``: the smallest footprint wanted (the validate plan's vectors: 4x the LLC, 2x with
        ``--quick``)."""
        vertices = 1 << max(20, (footprint_bytes // (8 + 4 * 4) - 1).bit_length())  # row_ptr + ~4 int32 edges
        slots = 1 << max(20, (footprint_bytes // (8 * SLOT_WORDS) - 1).bit_length())
        return cls(vertices, slots, STEPS)


def huge_empty(n: int, dtype: type) -> np.ndarray:
    """``n`` elements in an anonymous mapping advised ``MADV_HUGEPAGE`` (2 MiB aligned), untouched."""
    size = -(-n * np.dtype(dtype).itemsize // HUGE_PAGE) * HUGE_PAGE
    region = mmap.mmap(-1, size + HUGE_PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    raw = np.frombuffer(region, dtype=np.uint8)
    offset = (-raw.ctypes.data) % HUGE_PAGE
    if hasattr(mmap, "MADV_HUGEPAGE"):
        try:
            region.madvise(mmap.MADV_HUGEPAGE, offset, size)
        except OSError:
            pass
    return raw[offset:offset + n * np.dtype(dtype).itemsize].view(dtype)


@numba.njit(nogil=True)
def _walk(row_ptr, col, start, state, steps):
    """``steps`` steps of the random walk from ``start``; returns (end vertex, generator state)."""
    v = start
    x = np.uint64(state)
    for _ in range(steps):
        low = row_ptr[v]
        degree = row_ptr[v + 1] - low
        x ^= x << np.uint64(13)
        x ^= x >> np.uint64(7)
        x ^= x << np.uint64(17)
        pick = np.int64(((x >> np.uint64(32)) * np.uint64(degree)) >> np.uint64(32))  # Lemire's range reduction
        v = np.int64(col[low + pick])
    return v, x


def replay_walk(row_ptr: np.ndarray, col: np.ndarray, start: int, state: int, steps: int) -> tuple[int, int]:
    """The same walk in plain Python integers (the validation's second implementation)."""
    mask, v, x = 2**64 - 1, start, state
    for _ in range(steps):
        low = int(row_ptr[v])
        degree = int(row_ptr[v + 1]) - low
        x ^= (x << 13) & mask
        x ^= x >> 7
        x ^= (x << 17) & mask
        v = int(col[low + (((x >> 32) * degree) >> 32)])
    return v, x


@numba.njit(nogil=True)
def _insert(table, keys, values, shift, mask):
    """Insert every key with its value; returns each key's slot."""
    slots = np.empty(keys.size, dtype=np.int64)
    for n in range(keys.size):
        i = np.int64((np.uint64(keys[n]) * HASH_MULTIPLIER) >> np.uint64(shift))
        while table[SLOT_WORDS * i] != 0:
            i = (i + 1) & mask
        table[SLOT_WORDS * i] = keys[n]
        table[SLOT_WORDS * i + 1] = values[n]
        slots[n] = i
    return slots


@numba.njit(nogil=True)
def _hash_walk(table, start, steps, shift, mask):
    """``steps`` dependent lookups from key ``start``: each found value is the next key. Returns the last key."""
    k = start
    for _ in range(steps):
        i = np.int64((np.uint64(k) * HASH_MULTIPLIER) >> np.uint64(shift))
        while table[SLOT_WORDS * i] != k:
            i = (i + 1) & mask
        k = table[SLOT_WORDS * i + 1]
    return k


def _timed(name: str, kind: str, shape: tuple[int, ...], description: str, call, policy: RepetitionPolicy,
           details: dict) -> WorkloadRun:
    samples = time_calls(call, policy)
    return WorkloadRun(name, "cpu", kind, shape, "-", 8, f"numba {numba.__version__} (njit)", description,
                       float(np.median(samples)), samples, 1, details)


def random_walk(plan: LatencyPlan, policy: RepetitionPolicy) -> WorkloadRun:
    rng = np.random.default_rng(5)
    n = plan.vertices
    row_ptr = huge_empty(n + 1, np.int64)
    row_ptr[0] = 0
    np.cumsum(rng.integers(1, MAX_DEGREE + 1, n), out=row_ptr[1:])
    col = huge_empty(int(row_ptr[-1]), np.int32)
    col[:] = rng.integers(0, n, col.size, dtype=np.int32)
    state: dict[str, Any] = {"v": 0, "x": XORSHIFT_SEED, "last": (0, XORSHIFT_SEED)}
    _walk(row_ptr, col, 0, np.uint64(XORSHIFT_SEED), 1)  # compile outside the timing

    def call() -> None:
        state["last"] = (state["v"], state["x"])
        end, x = _walk(row_ptr, col, state["v"], np.uint64(state["x"]), plan.steps)
        state["v"], state["x"] = int(end), int(x)

    footprint = row_ptr.nbytes + col.nbytes
    run = _timed(f"random_walk_{n >> 20}Mi", "random_walk", (n, col.size),
                 f"random walk over a random CSR graph ({n} vertices, {col.size} edges), {plan.steps} steps per call",
                 call, policy, {"steps": plan.steps, "dependent_loads_per_step": 2, "footprint_bytes": footprint})
    expected = replay_walk(row_ptr, col, state["last"][0], state["last"][1], plan.steps)
    if (int(state["v"]), int(state["x"])) != expected:
        raise MeasurementError(f"{run.name} output check failed: the walk ended at vertex {int(state['v'])}, the "
                               f"replay at {expected[0]}; no figure is reported")
    return run


def hash_walk(plan: LatencyPlan, policy: RepetitionPolicy) -> WorkloadRun:
    slots, keys_n = plan.slots, plan.slots // 2  # load factor 1/2
    shift, mask = 64 - (slots.bit_length() - 1), slots - 1
    keys = (np.arange(1, keys_n + 1, dtype=np.uint64) * np.uint64(KEY_MULTIPLIER)).view(np.int64)  # distinct, non-0
    order = np.random.default_rng(6).permutation(keys_n)
    chain = keys[order]  # the lookup chain: chain[i] -> chain[i + 1], the last back to the first
    table = huge_empty(slots * SLOT_WORDS, np.int64)
    table[:] = 0
    placed = _insert(table, chain, np.roll(chain, -1), shift, mask)
    home = ((chain.view(np.uint64) * HASH_MULTIPLIER) >> np.uint64(shift)).astype(np.int64)
    # Lines a lookup of each key touches: its home line, and one more for every line boundary its probe run crosses.
    lines = (home % LINE_SLOTS + ((placed - home) & mask)) // LINE_SLOTS + 1
    state = {"position": 0}
    _hash_walk(table, int(chain[0]), 1, shift, mask)  # compile outside the timing

    def call() -> None:
        start = state["position"]
        end = _hash_walk(table, int(chain[start]), plan.steps, shift, mask)
        state["position"] = (start + plan.steps) % keys_n
        if end != chain[state["position"]]:
            raise MeasurementError(f"hash_walk output check failed: the walk ended at key {end}, the chain's order "
                                   f"says {int(chain[state['position']])}; no figure is reported")

    run = _timed(f"hash_walk_{slots >> 20}Mi", "hash_walk", (slots, keys_n),
                 f"dependent lookups in an open-addressing hash table ({slots} slots of 16 bytes, {keys_n} keys, "
                 f"linear probing), each value the next key, {plan.steps} lookups per call", call, policy,
                 {"steps": plan.steps, "dependent_loads_per_step": float(np.mean(lines)),
                  "footprint_bytes": table.nbytes, "lines_per_lookup_max": int(lines.max())})
    return run


def run_latency_workloads(plan: LatencyPlan, policy: RepetitionPolicy, progress: ProgressCallback | None = None,
                          first_step: int = 0, steps: int = 2) -> list[WorkloadRun]:
    """Build, time and validate both latency-bound workloads (single-threaded)."""
    runs = []
    for index, build in enumerate((random_walk, hash_walk)):
        if progress:
            progress(build.__name__, first_step + index, steps)
        runs.append(build(plan, policy))
    return runs
