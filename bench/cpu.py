"""Where the CPU went during a measurement: CPU seconds of named process groups
(the API processes, their PostgreSQL backends, the load generator) and of the
whole machine, read from /proc (Linux; elsewhere `snapshot` returns None).

A benchmark on a shared 2-core machine is only as good as its quiet: the
`other` share says how much of the machine's busy time went to processes
outside the benchmark while it measured.
"""

from __future__ import annotations

import os

HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_cpu(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def children(pid: int) -> list[int]:
    """pid and all its descendants."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return found


def _machine() -> tuple[float, float]:
    """(busy, total) CPU seconds of the machine since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return (sum(v) - idle) / HZ, sum(v) / HZ


def snapshot(groups: dict[str, list[int]]) -> dict | None:
    if not os.path.exists("/proc/stat"):
        return None
    snap = {name: {pid: _proc_cpu(pid) for pid in pids} for name, pids in groups.items()}
    snap["_machine"] = _machine()
    return snap


def per_unit(before: dict | None, after: dict | None, units: int) -> dict | None:
    """CPU milliseconds per unit (e.g. per order) for each group, the machine's busy share, and
    the share of busy time that none of the groups used ('other')."""
    if before is None or after is None or units == 0:
        return None
    out, ours = {}, 0.0
    for name, pids in after.items():
        if name == "_machine":
            continue
        spent = sum(cpu - before.get(name, {}).get(pid, 0.0) for pid, cpu in pids.items())
        ours += spent
        out[f"{name}_ms"] = round(spent / units * 1000, 3)
    busy = after["_machine"][0] - before["_machine"][0]
    total = after["_machine"][1] - before["_machine"][1]
    out["machine_busy"] = round(busy / total, 3) if total else None
    out["other_share_of_busy"] = round(max(0.0, busy - ours) / busy, 3) if busy else None
    return out
