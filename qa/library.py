"""Grow and shrink the library: add report files to the seeds folder, remove them, rebuild the index."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from qa.config import Settings
from qa.corpus import Report, ReportFormatError, load_report, seed_files
from qa.locks import exclusive

MAX_REPORT_BYTES = 2 * 1024 * 1024  # the archive's pages are a few KB; 2 MB is far past any of them
DOC_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,199}")  # a file name stem: no path characters
LOCK_FILE = ".library.lock"


class LibraryError(ValueError):
    """A report cannot be added or removed; the library is left as it was."""


@dataclass(frozen=True)
class Candidate:
    """A file checked and ready to be copied into the seeds folder."""

    source: Path
    doc: str
    report: Report


def check_doc(doc: str) -> str:
    """A doc names a file in the seeds folder: letters, digits, '.', '_' and '-', no path parts."""
    if not DOC_RULE.fullmatch(doc) or doc in {".", ".."}:
        raise LibraryError(f"{doc[:80]!r} cannot be a report's doc: use letters, digits, '.', '_' and '-'")
    return doc


def read_candidate(path: Path) -> Candidate:
    """Check one file as a report: a regular file, small enough, UTF-8 text that parses."""
    if not path.is_file():
        raise LibraryError(f"{path}: no such file")
    size = path.stat().st_size
    if size > MAX_REPORT_BYTES:
        raise LibraryError(f"{path.name}: {size:,} bytes is over the {MAX_REPORT_BYTES:,}-byte limit")
    doc = check_doc(path.stem)
    try:
        report = load_report(path)  # binary, not UTF-8, no report structure: NotAReport
    except ReportFormatError as error:
        raise LibraryError(f"not a report: {error}") from error
    return Candidate(source=path, doc=doc, report=report)


@contextlib.contextmanager
def library_lock(seeds_dir: Path) -> Iterator[None]:
    """One `qa add` or `qa remove` at a time on a seeds folder (a second waits for the first)."""
    seeds_dir.mkdir(parents=True, exist_ok=True)
    with exclusive(seeds_dir / LOCK_FILE):
        yield


def add_reports(
    settings: Settings, files: list[Path], rebuild: Callable[[Settings], object], *, replace: bool = False
) -> list[str]:
    """Copy checked report files into the seeds folder and rebuild; on any failure the folder is
    restored as it was. Returns the docs added."""
    candidates = [read_candidate(path) for path in files]
    _no_repeats(candidates)
    with library_lock(settings.seeds_dir):
        existing = {path.stem for path in _current(settings.seeds_dir)}
        clashes = [c.doc for c in candidates if c.doc in existing]
        if clashes and not replace:
            raise LibraryError(f"already in the library: {', '.join(clashes)} (use --replace to update)")
        with _restorable(settings.seeds_dir, [f"{c.doc}.txt" for c in candidates]):
            for candidate in candidates:
                _copy_atomic(candidate.source, settings.seeds_dir / f"{candidate.doc}.txt")
            rebuild(settings)
    return [c.doc for c in candidates]


def remove_report(settings: Settings, doc: str, rebuild: Callable[[Settings], object]) -> None:
    """Take a report out of the seeds folder and rebuild; restored if the rebuild fails."""
    check_doc(doc)
    with library_lock(settings.seeds_dir):
        path = settings.seeds_dir / f"{doc}.txt"
        if not path.is_file():
            raise LibraryError(f"no report {doc!r} in {settings.seeds_dir}")
        if len(_current(settings.seeds_dir)) == 1:
            raise LibraryError(f"{doc!r} is the only report; a library needs at least one")
        with _restorable(settings.seeds_dir, [path.name]):
            path.unlink()
            rebuild(settings)


def _current(seeds_dir: Path) -> list[Path]:
    try:
        return seed_files(seeds_dir)
    except FileNotFoundError:
        return []


def _no_repeats(candidates: list[Candidate]) -> None:
    seen: set[str] = set()
    for candidate in candidates:
        if candidate.doc in seen:
            raise LibraryError(f"two files would both be the report {candidate.doc!r}")
        seen.add(candidate.doc)


@contextlib.contextmanager
def _restorable(seeds_dir: Path, names: list[str]) -> Iterator[None]:
    """Keep copies of these files (or note their absence); put them back if the body fails."""
    backup = seeds_dir / f".backup-{os.getpid()}"
    backup.mkdir(exist_ok=True)
    present = [name for name in names if (seeds_dir / name).is_file()]
    for name in present:
        shutil.copy2(seeds_dir / name, backup / name)
    try:
        yield
    except BaseException:
        for name in names:
            (seeds_dir / name).unlink(missing_ok=True)
        for name in present:
            os.replace(backup / name, seeds_dir / name)
        raise
    finally:
        shutil.rmtree(backup, ignore_errors=True)


def _copy_atomic(source: Path, target: Path) -> None:
    """Readers of the seeds folder see the whole file or none of it."""
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.copyfile(source, temporary)
    os.replace(temporary, target)
