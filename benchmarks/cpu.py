"""CPU time spent during a load phase: by the server, by the load generator, and by anything else."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

TICK = os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """CPU seconds every core has spent busy since boot (/proc/stat, idle and iowait excluded)."""
    with open("/proc/stat", encoding="ascii") as handle:
        values = [int(x) for x in handle.readline().split()[1:9]]
    return (sum(values) - values[3] - values[4]) / TICK


def process_cpu_s(pid: int) -> float:
    """User plus system CPU seconds of a running process, all its threads."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _children_and_self_s() -> tuple[float, float]:
    times = os.times()
    return times.children_user + times.children_system, times.user + times.system


@dataclass
class CpuMeter:
    """Started before a phase and read after it. The load generator is this process's child that
    ran (and was waited for) in between; "other" is everything else on the machine."""

    server_pid: int
    _start: tuple[float, ...] = field(default=(), init=False)

    def __post_init__(self) -> None:
        self._start = self._sample()

    def _sample(self) -> tuple[float, ...]:
        server = process_cpu_s(self.server_pid)
        return (time.perf_counter(), machine_busy_s(), server, *_children_and_self_s())

    def read(self) -> dict[str, float]:
        """Average cores busy over the phase: server, load generator, and other processes."""
        wall, busy, server, children, own = (b - a for a, b in zip(self._start, self._sample(), strict=True))
        if wall <= 0:
            return {}
        other = max(0.0, busy - server - children - own)
        return {
            "seconds": round(wall, 2),
            "server_cores": round(server / wall, 2),
            "loadgen_cores": round(children / wall, 2),
            "other_cores": round(other / wall, 2),
        }
