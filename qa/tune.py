"""Grid-search the scoring knobs on the tuning questions and report them on the hold-out set."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np

from qa.evaluate import Question, Report, evaluate
from qa.index import Encoded
from qa.search import SearchConfig, Searcher

DEFAULT_GRID: dict[str, Sequence[object]] = {
    "dense_weight": [0.5, 0.6, 0.7, 0.8],
    "best_unit_weight": [0.4, 0.6, 0.8, 1.0],
    "keyword_best_unit_weight": [0.5, 0.7, 1.0],
}


@dataclass(frozen=True)
class Trial:
    config: SearchConfig
    tuning: Report
    holdout: Report | None

    @property
    def objective(self) -> float:
        """What the grid maximises: first-citation accuracy, then rank quality."""
        return self.tuning.recall_at_1 + 0.5 * self.tuning.mrr + 0.25 * self.tuning.recall_at_3


class CachedEncoder:
    """Remembers question encodings so each trial costs only scoring, not the model."""

    def __init__(self, searcher: Searcher) -> None:
        self._encode = searcher.embedder.encode_tokens
        self._seen: dict[str, Encoded] = {}

    def __call__(self, texts: Sequence[str]) -> Encoded:
        missing = [t for t in dict.fromkeys(texts) if t not in self._seen]
        if missing:
            self._seen.update(zip(missing, self._encode(missing), strict=True))
        rows = [self._seen[t] for t in texts]
        return Encoded(
            np.vstack([r.vectors for r in rows]), [r.tokens[0] for r in rows], [r.pieces[0] for r in rows]
        )


def configs(base: SearchConfig, grid: dict[str, Sequence[object]]) -> Iterable[SearchConfig]:
    names = list(grid)
    for values in itertools.product(*(grid[name] for name in names)):
        yield base.with_changes(**dict(zip(names, values, strict=True)))


@contextlib.contextmanager
def trial_mode(searcher: Searcher) -> Iterator[SearchConfig]:
    """Cache question encodings across trials; give back the searcher's config and encoder after."""
    searcher.encode = CachedEncoder(searcher)  # type: ignore[method-assign]
    original = searcher.config
    try:
        yield original
    finally:
        searcher.set_config(original)
        del searcher.encode


def grid_search(
    searcher: Searcher,
    tuning: list[Question],
    holdout: list[Question] | None = None,
    grid: dict[str, Sequence[object]] | None = None,
) -> list[Trial]:
    """Every configuration of the grid, best first by the tuning objective."""
    trials = []
    with trial_mode(searcher) as original:
        for config in configs(original, grid or DEFAULT_GRID):
            searcher.set_config(config)
            trials.append(Trial(config, evaluate(searcher, tuning), None))
        trials.sort(key=lambda t: t.objective, reverse=True)
        if holdout is not None:
            for position, trial in enumerate(trials[:10]):
                searcher.set_config(trial.config)
                trials[position] = Trial(trial.config, trial.tuning, evaluate(searcher, holdout))
    return trials


# Ranking techniques, each row relative to the defaults with every decline rule off; then the decline
# rules are added one at a time, by name, in the order the policy checks them (`qa tune --ablation`).
_RANKING_OFF: dict[str, object] = dict(
    rerank_weight=0.0, acronyms_dense=False, everyday_dense=False, everyday_keyword=False
)
RANKING_ROWS: list[tuple[str, dict[str, object]]] = [
    (
        "plain dense: one vector per passage (with section and heading)",
        dict(_RANKING_OFF, dense_weight=1.0, best_unit_weight=0.0),
    ),
    ("plain BM25 over passages", dict(_RANKING_OFF, dense_weight=0.0, keyword_best_unit_weight=0.0)),
    ("dense: passage + best sentence/row/entry vectors", dict(_RANKING_OFF, dense_weight=1.0)),
    ("+ BM25 over the same units, fused", dict(_RANKING_OFF)),
    ("+ acronym expansion from the report", dict(_RANKING_OFF, acronyms_dense=True)),
    (
        "+ everyday words mapped to the report's ('cops' -> police officers)",
        dict(_RANKING_OFF, acronyms_dense=True, everyday_dense=True, everyday_keyword=True),
    ),
    ("+ token-level rerank of the top 10", {}),
]
CALIBRATED_RULE = "nothing_close"  # its threshold is recalibrated on each row but the last


@dataclass(frozen=True)
class AblationRow:
    """One configuration: its label, the rules it enables, its ranking changes."""

    label: str
    rules: tuple[str, ...]
    changes: dict[str, object]


def ablation_rows(config: SearchConfig) -> list[AblationRow]:
    """Ranking rows with no rules, then one row per decline rule added by name; the last is the default."""
    rows = [AblationRow(label, (CALIBRATED_RULE,), changes) for label, changes in RANKING_ROWS]
    enabled = [rule.name for rule in config.declines.rules if rule.enabled]
    added: list[str] = [CALIBRATED_RULE]
    for name in enabled:
        if name == CALIBRATED_RULE:
            continue
        added.append(name)
        rows.append(AblationRow(f"+ rule {name}", tuple(added), {}))
    return rows


TARGET_FALSE_DECLINES = 0.03


def calibrate_threshold(
    searcher: Searcher, tuning: list[Question], rate: float = TARGET_FALSE_DECLINES
) -> float:
    """The highest answer_min_score that declines at most `rate` of the answerable tuning questions."""
    answerable = [q.q for q in tuning if not q.abstain]
    results = searcher.ask_many(answerable, k=1)
    scores = sorted(r.hits[0].score for r in results if not r.lookup and r.hits)
    return scores[int(rate * len(scores))] if scores else 0.0


def ablation(
    searcher: Searcher, tuning: list[Question], holdout: list[Question]
) -> list[tuple[str, Report, Report]]:
    """Each ablation row, its decline threshold calibrated on the tuning half (but the last, the
    shipped configuration), on both halves."""
    rows = []
    with trial_mode(searcher) as original:
        table = ablation_rows(original)
        for number, row in enumerate(table, start=1):
            config = original.with_changes(**row.changes)
            config = replace(config, declines=config.declines.switched(on=row.rules))
            if number < len(table):
                searcher.set_config(config.with_changes(answer_min_score=-1e9))
                config = config.with_changes(answer_min_score=calibrate_threshold(searcher, tuning))
            searcher.set_config(config)
            rows.append(
                (row.label, evaluate(searcher, tuning, "tuning"), evaluate(searcher, holdout, "holdout"))
            )
    return rows
