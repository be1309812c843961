"""Shortlists: the values that can rank among the first, so search scores or sorts those alone."""

from __future__ import annotations

import numpy as np

# A threshold is first read from every SAMPLE_STEP-th value, then checked against them all.
SAMPLE_STEP = 8
# Shortlists pay off past this many values per one wanted; below it, every value is sorted.
MIN_RATIO = 4


def at_least(values: np.ndarray, count: int) -> np.ndarray | None:
    """The positions (ascending) of every value at or above a threshold that at least `count`
    values reach: they hold the `count` largest and every value tied with the last of them. None
    when `values` are too few for a shortlist to pay, or the threshold read from a sample falls
    short (ties, a skewed sample)."""
    if count <= 0 or len(values) < MIN_RATIO * count:
        return None
    sample = values[::SAMPLE_STEP]
    # A quarter more than the sample's share, so the threshold rarely falls short.
    rank = count // SAMPLE_STEP + count // (4 * SAMPLE_STEP) + 1
    if rank > len(sample):
        return None
    threshold = np.partition(sample, len(sample) - rank)[len(sample) - rank]
    kept = np.flatnonzero(values >= threshold)
    return kept if len(kept) >= count else None


def kth_largest(values: np.ndarray, count: int) -> np.floating:
    """The count-th largest value, as a partition of every value gives it: read among the values
    of a shortlist when there is one (a partition of 34k unit scores took ~0.2 ms)."""
    kept = at_least(values, count)
    pool = values if kept is None else values[kept]
    return np.partition(pool, len(pool) - count)[len(pool) - count]


def runs(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The numbers in the runs [start, end) one after another, and where each run begins among
    them (every run non-empty)."""
    lengths = ends - starts
    offsets = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    numbers = np.arange(int(lengths.sum()), dtype=np.int64) + np.repeat(starts - offsets, lengths)
    return numbers, offsets
