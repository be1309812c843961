"""Candidate units for a large library: inverted lists over the unit vectors (FAISS IVF), trained at build."""

from __future__ import annotations

import math

import faiss
import numpy as np

# Below this many units every unit is scored exactly: the flat scan of a few hundred reports costs
# well under a millisecond. Past it, the scan reads every vector from memory after each forward pass
# has pushed them out of the caches (~2.2 ms at 34k units, docs/performance.md) and only a small
# share of them can matter to a question.
MIN_UNITS = 20_000
PROBE_SHARE = 8  # lists read per question: one in this many (at least one)
TRAIN_SEED = 1234  # k-means is seeded: the same vectors always give the same lists


def list_count(units: int) -> int:
    """How many lists a library of `units` vectors is split into: ~sqrt(units), as FAISS's guide
    starts from, so a list holds ~sqrt(units) vectors and a question reads ~units / PROBE_SHARE."""
    return max(1, round(math.sqrt(units)))


def needs_lists(units: int) -> bool:
    return units >= MIN_UNITS


def train_centroids(vectors: np.ndarray) -> np.ndarray:
    """The lists' centroids: spherical k-means (the vectors are unit length, scored by inner product)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    kmeans = faiss.Kmeans(
        vectors.shape[1], list_count(len(vectors)), niter=20, seed=TRAIN_SEED, spherical=True, verbose=False
    )
    kmeans.train(vectors)
    return np.ascontiguousarray(kmeans.centroids, dtype=np.float32)


RETRAIN_CHANGE = 1.25  # centroids trained on this many times more or fewer units are trained again


def reusable(centroids: np.ndarray | None, *, trained_on: int, units: int, dimension: int) -> bool:
    """Saved centroids still serve a library of `units`: the same dimension, trained on a library
    within RETRAIN_CHANGE times its size. An added report changes little, and training again
    would move every other question's candidates; a library that grew or shrank by more than a
    quarter (reports added one by one, or a large remove) is clustered again."""
    if centroids is None or centroids.ndim != 2 or centroids.shape[1] != dimension or trained_on <= 0:
        return False
    return trained_on / RETRAIN_CHANGE <= units <= trained_on * RETRAIN_CHANGE


_BELOW_EVERY_SCORE = float(-np.finfo(np.float32).max)  # a range search keeps scores above its radius


class UnitLists:
    """The library's unit vectors filed under their nearest centroid; a question reads the lists
    nearest to it, not every vector."""

    def __init__(self, centroids: np.ndarray, vectors: np.ndarray) -> None:
        if centroids.ndim != 2 or vectors.ndim != 2 or centroids.shape[1] != vectors.shape[1]:
            raise ValueError(f"centroids of shape {centroids.shape} for vectors of shape {vectors.shape}")
        dimension = centroids.shape[1]
        self._quantizer = faiss.IndexFlatIP(dimension)  # kept: the IVF index points into it
        self._quantizer.add(np.ascontiguousarray(centroids, dtype=np.float32))
        self.index = faiss.IndexIVFFlat(
            self._quantizer, dimension, len(centroids), faiss.METRIC_INNER_PRODUCT
        )
        self.index.is_trained = True
        self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        self.index.nprobe = max(1, math.ceil(len(centroids) / PROBE_SHARE))

    @property
    def count(self) -> int:
        return int(self.index.nlist)

    def scanned(self, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The scores (float32) and numbers (int64) of every unit in the lists nearest `vector`: a
        range search that keeps all it reads (no heap of the best, which cost more than the reading)."""
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        _, scores, numbers = self.index.range_search(query, _BELOW_EVERY_SCORE)
        return scores, numbers
