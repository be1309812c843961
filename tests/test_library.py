"""Adding and removing reports: checked before copying, one writer at a time, restored on failure."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from qa.config import Settings, load_settings
from qa.corpus import seed_files
from qa.library import MAX_REPORT_BYTES, LibraryError, add_reports, check_doc, remove_report
from tests.conftest import REPORT_FILE


@pytest.fixture()
def library(tmp_path: Path) -> Settings:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(REPORT_FILE, seeds / REPORT_FILE.name)
    return load_settings({}).with_overrides(seeds_dir=seeds, index_dir=tmp_path / "index")


def _docs(settings: Settings) -> list[str]:
    return [path.stem for path in seed_files(settings.seeds_dir)]


def _report_copy(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    shutil.copy(REPORT_FILE, path)
    return path


def test_add_copies_the_file_and_rebuilds_once(library: Settings, tmp_path: Path) -> None:
    rebuilt: list[list[str]] = []
    added = add_reports(
        library, [_report_copy(tmp_path, "second-report.txt")], lambda s: rebuilt.append(_docs(s))
    )
    assert added == ["second-report"]
    assert rebuilt == [["mpa-2005-12-08-drugs-and-crime", "second-report"]]  # the rebuild saw the new file
    assert (library.seeds_dir / "second-report.txt").read_bytes() == REPORT_FILE.read_bytes()


def test_a_doc_already_in_the_library_needs_replace(library: Settings) -> None:
    with pytest.raises(LibraryError, match="already in the library"):
        add_reports(library, [REPORT_FILE], lambda s: None)
    add_reports(library, [REPORT_FILE], lambda s: None, replace=True)
    assert _docs(library) == ["mpa-2005-12-08-drugs-and-crime"]


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        ("empty.txt", b"", "not a report"),
        ("binary.txt", b"\x00\x01\x02PK\x03\x04", "binary"),
        ("latin1.txt", "Report: 1\nDate: 1 May 2001\ncaf\xe9".encode("latin-1"), "not UTF-8"),
        ("bad name!.txt", REPORT_FILE.read_bytes(), "cannot be a report's doc"),
    ],
)
def test_bad_files_are_refused_and_the_library_is_unchanged(
    library: Settings, tmp_path: Path, name: str, content: bytes, error: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(LibraryError, match=error):
        add_reports(library, [path], lambda s: pytest.fail("nothing to rebuild"))
    assert _docs(library) == ["mpa-2005-12-08-drugs-and-crime"]


def test_a_huge_file_is_refused_before_it_is_read(library: Settings, tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    with open(path, "wb") as handle:
        handle.truncate(MAX_REPORT_BYTES + 1)
    with pytest.raises(LibraryError, match="over the"):
        add_reports(library, [path], lambda s: None)


def test_missing_file_and_two_files_with_one_doc(library: Settings, tmp_path: Path) -> None:
    with pytest.raises(LibraryError, match="no such file"):
        add_reports(library, [tmp_path / "absent.txt"], lambda s: None)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = _report_copy(tmp_path / "a", "same.txt"), _report_copy(tmp_path / "b", "same.txt")
    with pytest.raises(LibraryError, match="both be the report 'same'"):
        add_reports(library, [first, second], lambda s: None)


@pytest.mark.parametrize("doc", ["../etc/passwd", "a/b", "", ".", "..", "x" * 201, "-rf", "a\x00b"])
def test_docs_with_path_characters_are_refused(doc: str) -> None:
    with pytest.raises(LibraryError):
        check_doc(doc)


def test_a_failed_rebuild_restores_the_folder(library: Settings, tmp_path: Path) -> None:
    def broken(settings: Settings) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        add_reports(library, [_report_copy(tmp_path, "second.txt")], broken)
    assert _docs(library) == ["mpa-2005-12-08-drugs-and-crime"]
    add_reports(library, [_report_copy(tmp_path, "second.txt")], lambda s: None)
    with pytest.raises(OSError, match="disk full"):
        remove_report(library, "second", broken)
    assert _docs(library) == ["mpa-2005-12-08-drugs-and-crime", "second"]
    assert not list(library.seeds_dir.glob(".backup-*"))


def test_remove(library: Settings, tmp_path: Path) -> None:
    add_reports(library, [_report_copy(tmp_path, "second.txt")], lambda s: None)
    remove_report(library, "second", lambda s: None)
    assert _docs(library) == ["mpa-2005-12-08-drugs-and-crime"]
    with pytest.raises(LibraryError, match="no report 'second'"):
        remove_report(library, "second", lambda s: None)
    with pytest.raises(LibraryError, match="only report"):
        remove_report(library, "mpa-2005-12-08-drugs-and-crime", lambda s: None)


def test_two_adds_at_once_run_one_after_the_other(library: Settings, tmp_path: Path) -> None:
    inside: list[str] = []
    overlaps: list[bool] = []

    def slow_rebuild(settings: Settings) -> None:
        overlaps.append(bool(inside))
        inside.append("x")
        time.sleep(0.2)
        inside.pop()

    files = [_report_copy(tmp_path, f"report-{n}.txt") for n in range(2)]
    threads = [threading.Thread(target=add_reports, args=(library, [f], slow_rebuild)) for f in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == [False, False]
    assert _docs(library) == ["mpa-2005-12-08-drugs-and-crime", "report-0", "report-1"]
