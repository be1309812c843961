"""Synthetic libraries for `qa bench --library`: copies of the real reports, each with its own doc."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from qa.config import PROJECT_ROOT
from qa.corpus import normalise_space, parse_report

REPORTS_DIR = PROJECT_ROOT / "tests" / "data" / "reports"
SEEDS_DIR = PROJECT_ROOT / "seeds"


@dataclass(frozen=True)
class Source:
    """A real report the copies are made from: its text and the title line that each copy varies."""

    doc: str
    text: str
    title: str


@functools.cache  # parsed once per run, not once per copy
def sources(*, reports_dir: Path = REPORTS_DIR, seeds_dir: Path = SEEDS_DIR) -> tuple[Source, list[Source]]:
    """The seed (copied as it is first) and the real archive reports that have a title line (a
    report without one has nothing in its embedded text that a copy number could vary)."""
    seed = _source(sorted(seeds_dir.glob("*.txt"))[0])
    files = sorted(reports_dir.glob("*.txt")) + sorted(reports_dir.glob("partial/*.txt"))
    others = [source for source in map(_source, files) if source.title]
    return seed, others


def _source(path: Path) -> Source:
    text = path.read_text(encoding="utf-8")
    return Source(doc=path.stem, text=text, title=parse_report(text, slug=path.stem).title)


def copy_text(source: Source, number: int) -> str:
    """The report's text with ' (copy N)' after its title line: the summary's embedded text (which
    starts with the title) differs from every other copy's; every other passage is the original's."""
    lines = source.text.split("\n")
    # The parser reads the title with its spacing normalised: find the line it came from.
    at = next((i for i, line in enumerate(lines) if normalise_space(line) == source.title), None)
    if at is None:
        raise ValueError(f"{source.doc}: title line not found")
    lines[at] = f"{lines[at].rstrip()} (copy {number})"
    return "\n".join(lines)


def copy_doc(source: Source, number: int) -> str:
    """A distinct doc for each copy; it sorts after the seed's, so the seed stays the first report."""
    return f"z{number:04d}-{source.doc}"[:200]


def make_library(folder: Path, size: int) -> list[str]:
    """`size` reports in `folder`: the seed as it is, then copies of the others (and of the seed)
    in turn, numbered 1..size-1. Returns the docs, the seed's first."""
    seed, _ = sources()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{seed.doc}.txt").write_text(seed.text, encoding="utf-8")
    docs = [seed.doc]
    for number in range(1, size):
        docs.append(write_copy(folder, number))
    return docs


def write_copy(folder: Path, number: int) -> str:
    """Copy number `number` (1, 2, ...) into `folder`, cycling over the seed and the other reports."""
    seed, others = sources()
    cycle = [*others, seed]
    source = cycle[(number - 1) % len(cycle)]
    doc = copy_doc(source, number)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{doc}.txt").write_text(copy_text(source, number), encoding="utf-8")
    return doc
