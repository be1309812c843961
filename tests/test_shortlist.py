"""Shortlists: a threshold read from a sample keeps the first values and their ties, and no more is needed."""

from __future__ import annotations

import numpy as np

from qa.shortlist import at_least, kth_largest, runs


def _samples() -> list[np.ndarray]:
    rng = np.random.default_rng(13)
    return [
        rng.random(34_000).astype(np.float32),
        rng.choice(rng.random(5).astype(np.float32), size=20_000),  # a few values, tied by the thousand
        np.sort(rng.random(9_000).astype(np.float32)),  # sorted: a strided sample is skewed
        np.full(12_000, 0.25, dtype=np.float32),  # one value throughout
    ]


def test_kth_largest_is_the_value_a_partition_of_every_value_gives() -> None:
    for values in _samples():
        for count in (1, 7, 50, 1000, 4000, len(values) // 3, len(values)):
            expected = np.partition(values, len(values) - count)[len(values) - count]
            assert kth_largest(values, count) == expected


def test_a_shortlist_holds_the_first_values_and_every_tie_in_order() -> None:
    for values in _samples():
        for count in (1, 50, 4000):
            kept = at_least(values, count)
            if kept is None:
                continue
            last = np.sort(values)[len(values) - count]
            assert np.array_equal(kept, np.flatnonzero(values >= values[kept].min()))
            assert (values[kept] >= last).sum() == (values >= last).sum()  # every tie with the last
            assert np.all(np.diff(kept) > 0)


def test_too_few_values_for_a_shortlist() -> None:
    values = np.arange(100, dtype=np.float32)
    assert at_least(values, 50) is None
    assert at_least(values, 0) is None


def test_runs_lay_out_each_run_and_where_it_starts() -> None:
    numbers, offsets = runs(np.array([3, 10, 11]), np.array([5, 11, 14]))
    assert numbers.tolist() == [3, 4, 10, 11, 12, 13]
    assert offsets.tolist() == [0, 2, 3]
