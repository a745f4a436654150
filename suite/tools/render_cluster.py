"""Terminal tables of a profile's ``links`` (GPU-to-GPU copies) and ``interconnect`` (MPI ping-pong, NCCL
all-reduce) sections, printed by ``show`` and ``run`` after the device's own tables. Formatting only."""

from __future__ import annotations

from rich.table import Table

from .cells import add_row, is_number, new_table, number


def _rate(entry: object) -> str:
    return number(entry.get("gbps")) if isinstance(entry, dict) else "-"


def links_table(section: dict) -> Table:
    """One row per (source, target): copy-engine and SM copies, one way and both, beside the link's paper figure."""
    table = new_table("GPU-to-GPU copies (GB/s, nvbandwidth's method)")
    for column in ("source", "target", "link", "paper", "ce", "ce both", "sm read", "sm both"):
        table.add_column(column, justify="left" if column in ("source", "target", "link") else "right", no_wrap=True)
    for pair in section.get("pairs") or []:
        add_row(table, pair.get("source", "?"), pair.get("target", "?"), pair.get("link") or "-",
             number(pair.get("theoretical_gbps")), _rate(pair.get("ce_unidirectional")),
             number((pair.get("ce_bidirectional") or {}).get("total_gbps")), _rate(pair.get("sm_read")),
             number((pair.get("sm_bidirectional") or {}).get("total_gbps")))
    return table


def _at(rows: list, size_key: str, value_key: str, smallest: bool) -> str:
    """The figure at the smallest (latency) or largest (bandwidth) message size, with that size."""
    good = [row for row in rows if isinstance(row, dict) and is_number(row.get(size_key))
            and is_number(row.get(value_key))]
    if not good:
        return "-"
    row = min(good, key=lambda r: r[size_key]) if smallest else max(good, key=lambda r: r[size_key])
    return f"{row[value_key]:,.4g} @ {int(row[size_key]):,} B"


def interconnect_table(section: dict) -> Table:
    """MPI ping-pong per rank pair (latency at the smallest message, bandwidth at the largest) and NCCL's
    all-reduce bus bandwidth at its largest message."""
    table = new_table("interconnect (OSU ping-pong over MPI; NCCL all-reduce, nccl-tests' busbw)")
    for column in ("between", "hosts", "latency us", "bandwidth GB/s"):
        table.add_column(column, justify="left" if column in ("between", "hosts") else "right", no_wrap=True)
    mpi = section.get("mpi") or {}
    for pair in mpi.get("pairs") or []:
        ranks = "-".join(str(r) for r in pair.get("ranks") or [])
        add_row(table, f"ranks {ranks}", " / ".join(str(h) for h in pair.get("hosts") or []),
             _at(pair.get("latency") or [], "bytes", "latency_us", True),
             _at(pair.get("bandwidth") or [], "bytes", "gbps", False))
    nccl = section.get("nccl") or {}
    if nccl.get("error"):
        add_row(table, "NCCL all-reduce", "-", "-", f"not measured: {nccl['error']}")
    elif nccl:
        add_row(table, "NCCL all-reduce", f"{nccl.get('members', '?')} GPUs", "-",
             _at(nccl.get("sizes") or [], "bytes", "busbw_gbps", False))
    return table


__all__ = ["interconnect_table", "links_table"]
