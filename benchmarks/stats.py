"""Percentiles and summaries of latency samples."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (fraction 0.5 = p50, 0.99 = p99) of non-empty samples."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def summarise(samples_ms: Sequence[float]) -> dict[str, float]:
    """p50, p90, p99 and max of latencies in milliseconds, rounded for printing."""
    if not samples_ms:
        return {"n": 0}
    return {
        "n": len(samples_ms),
        "p50": round(percentile(samples_ms, 0.50), 3),
        "p90": round(percentile(samples_ms, 0.90), 3),
        "p99": round(percentile(samples_ms, 0.99), 3),
        "max": round(max(samples_ms), 3),
    }
