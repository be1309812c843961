"""Percentiles and summaries of latency samples."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

Counts = list[tuple[float, int]]  # (latency in ms, how many answers took it)


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (fraction 0.5 = p50, 0.99 = p99) of non-empty samples."""
    if not samples:
        return float("nan")
    return counted_percentile(counted(samples), fraction)


def counted(samples: Iterable[float]) -> Counts:
    """Samples as sorted (value, count) pairs."""
    return sorted(Counter(samples).items())


def counted_percentile(counts: Counts, fraction: float) -> float:
    """The nearest-rank percentile of sorted (value, count) pairs."""
    total = sum(count for _, count in counts)
    if not total:
        return float("nan")
    rank, seen = max(1, math.ceil(fraction * total)), 0
    for value, count in counts:
        seen += count
        if seen >= rank:
            return value
    return counts[-1][0]


def summarise(samples_ms: Sequence[float]) -> dict[str, float]:
    """p50, p90, p99 and max of latencies in milliseconds, rounded for printing."""
    return summarise_counts(counted(samples_ms))


def summarise_counts(counts: Counts) -> dict[str, float]:
    """The same summary from sorted (latency ms, count) pairs, e.g. several runs' merged."""
    total = sum(count for _, count in counts)
    if not total:
        return {"n": 0}
    return {
        "n": total,
        "p50": round(counted_percentile(counts, 0.50), 3),
        "p90": round(counted_percentile(counts, 0.90), 3),
        "p99": round(counted_percentile(counts, 0.99), 3),
        "max": round(counts[-1][0], 3),
    }


def merge_counts(*runs: Counts) -> Counts:
    """Several runs' (value, count) pairs as one sorted list."""
    merged: Counter = Counter()
    for counts in runs:
        for value, count in counts:
            merged[value] += count
    return sorted(merged.items())
