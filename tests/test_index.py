"""Building, saving, loading and rebuilding the index with the real model and real files."""

from __future__ import annotations

import contextlib
import fcntl
import gc
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import bm25s
import numpy as np
import pytest

from qa.config import Settings
from qa.corpus import Corpus
from qa.index import (
    MANIFEST_FILE,
    SEGMENT_FILES,
    Embedder,
    SearchIndex,
    StaleIndex,
    _writable,
    build_units,
    load_index,
    open_index,
    verify_vectors,
)
from qa.search import Searcher
from qa.segments import SEGMENTS_DIR, folder_digests

from .conftest import REPORT_FILE


@pytest.fixture()
def own_settings(settings: Settings, search_index: SearchIndex, tmp_path: Path) -> Settings:
    """A private copy of the built index and of the seeds, safe to damage."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(REPORT_FILE, seeds / REPORT_FILE.name)
    index_dir = tmp_path / "index"
    shutil.copytree(settings.index_dir, index_dir)
    return settings.with_overrides(seeds_dir=seeds, index_dir=index_dir)


def build_folder(settings: Settings) -> Path:
    manifest = json.loads((settings.index_dir / MANIFEST_FILE).read_text())
    return settings.index_dir / manifest["build"]


def segment_folder(settings: Settings) -> Path:
    """The folder of the seed report's segment (the only report in these tests)."""
    manifest = json.loads((settings.index_dir / MANIFEST_FILE).read_text())
    return settings.index_dir / SEGMENTS_DIR / manifest["segments"][0]["name"]


def test_manifest_records_what_was_built(search_index: SearchIndex, settings: Settings) -> None:
    manifest = json.loads((settings.index_dir / MANIFEST_FILE).read_text())
    assert manifest["model"] == "all-MiniLM-L6-v2"
    assert manifest["dimension"] == 384
    assert len(manifest["seed_hash"]) == 64
    assert manifest["passages"] == search_index.corpus.ids
    assert {"faiss-cpu", "bm25s", "sentence-transformers", "torch"} <= set(manifest["versions"])
    assert manifest["built_at"].endswith("Z")
    assert "places.npy" in manifest["files"] and "keyword/vocab.index.json" in manifest["files"]
    [segment] = manifest["segments"]
    assert segment["doc"] == "mpa-2005-12-08-drugs-and-crime" and set(segment["files"]) == SEGMENT_FILES
    assert segment["passages"] == 61 and segment["units"] == manifest["units"] == len(search_index.units)


def test_vectors_are_normalised_and_cover_every_unit(search_index: SearchIndex) -> None:
    vectors = search_index.unit_vectors()
    assert vectors.shape == (len(search_index.units), 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    covered = {unit.passage for unit in search_index.units if unit.kind == "passage"}
    assert covered == set(range(len(search_index.corpus.passages)))


def test_table_rows_and_abbreviations_are_units(corpus: Corpus) -> None:
    units = build_units(corpus)
    rows = [u for u in units if u.kind == "row"]
    listed = [u for u in units if u.kind == "entry" and corpus.passages[u.passage].id == "abbreviations"]
    assert len(rows) == 32 and any("Haringey 17 17" in u.text for u in rows)
    assert len(listed) == 13 and any("CJIP" in u.text for u in listed)


def test_acronyms_defined_in_running_text_become_entries(corpus: Corpus) -> None:
    entries = {
        corpus.passages[u.passage].id: u.text
        for u in build_units(corpus)
        if u.kind == "entry" and "CDTB" in u.text
    }
    assert entries == {
        "22": "CDTB: Central Drug Trafficking Database (CDTB stands for Central Drug Trafficking Database)"
    }


def test_token_vectors_cover_every_passage(search_index: SearchIndex) -> None:
    assert len(search_index.passage_tokens) == len(search_index.corpus.passages)
    assert all(matrix.shape[1] == 384 and len(matrix) > 0 for matrix in search_index.passage_tokens)


def test_saved_index_loads_without_rebuilding(own_settings: Settings, embedder: Embedder, caplog) -> None:
    before = json.loads((own_settings.index_dir / MANIFEST_FILE).read_text())["fingerprint"]
    with caplog.at_level(logging.INFO, logger="qa.index"):
        index = open_index(own_settings, embedder)
    assert index.fingerprint == before
    assert "rebuilding" not in caplog.text


def test_changed_seeds_trigger_a_rebuild(own_settings: Settings, embedder: Embedder, caplog) -> None:
    report = own_settings.seeds_dir / REPORT_FILE.name
    report.write_text(
        report.read_text(encoding="utf-8").replace("300 of the factories", "301 of the factories")
    )
    with pytest.raises(StaleIndex, match="seed_hash changed"):
        load_index(Corpus.from_seeds(own_settings.seeds_dir), own_settings)
    with caplog.at_level(logging.INFO, logger="qa.index"):
        index = open_index(own_settings, embedder)
    assert "rebuilding index: seed_hash changed" in caplog.text
    assert "301 of the factories" in index.corpus.resolve("16").text
    assert (
        load_index(Corpus.from_seeds(own_settings.seeds_dir), own_settings).fingerprint == index.fingerprint
    )


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda s: (segment_folder(s) / "vectors.npy").write_bytes(b"not an array"), "damaged"),
        (lambda s: (segment_folder(s) / "vectors.npy").unlink(), "missing"),
        (lambda s: _truncate(segment_folder(s) / "segment.json"), "damaged"),
        (lambda s: shutil.rmtree(build_folder(s) / "keyword"), "missing"),
        (lambda s: _truncate(segment_folder(s) / "tokens.npy"), "damaged"),
        (lambda s: _truncate(build_folder(s) / "keyword" / "vocab.index.json"), "damaged"),
    ],
)
def test_damaged_files_trigger_a_rebuild(
    own_settings: Settings, embedder: Embedder, caplog, damage, reason
) -> None:
    damage(own_settings)
    with caplog.at_level(logging.WARNING, logger="qa.index"):
        index = open_index(own_settings, embedder)
    assert re.search(f"rebuilding index: (segment [0-9a-f]+: )?index file {reason}", caplog.text)
    assert index.dense.ntotal == len(index.units)
    load_index(index.corpus, own_settings)  # the rebuilt files verify


@pytest.mark.parametrize("content", ["", "{not json", "[]", '{"format": 1}'])
def test_bad_manifest_triggers_a_rebuild(
    own_settings: Settings, embedder: Embedder, caplog, content: str
) -> None:
    (own_settings.index_dir / MANIFEST_FILE).write_text(content)
    with caplog.at_level(logging.WARNING, logger="qa.index"):
        index = open_index(own_settings, embedder)
    assert "rebuilding index:" in caplog.text
    assert len(index.corpus.passages) == 61


def test_missing_index_is_built_and_old_builds_removed(own_settings: Settings, embedder: Embedder) -> None:
    old = build_folder(own_settings)
    index = open_index(own_settings, embedder, force=True)
    assert not old.exists()
    assert build_folder(own_settings).name == index.fingerprint
    folders = [own_settings.index_dir, own_settings.index_dir / SEGMENTS_DIR]
    leftovers = [p.name for folder in folders for p in folder.iterdir() if p.name.startswith(".staging")]
    assert leftovers == []


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# ---------------------------------------------------------------------------
# Every way the saved files can be wrong is caught when loading, before anything is served.


def _manifest(settings: Settings) -> dict:
    return json.loads((settings.index_dir / MANIFEST_FILE).read_text())


def _write_manifest(settings: Settings, manifest: dict) -> None:
    (settings.index_dir / MANIFEST_FILE).write_text(json.dumps(manifest))


def _reseal(settings: Settings) -> None:
    """Recompute the manifest's checksums, as if the damaged files had been written by a build."""
    manifest = _manifest(settings)
    manifest["files"] = folder_digests(build_folder(settings))
    manifest["segments"][0]["files"] = folder_digests(segment_folder(settings))
    _write_manifest(settings, manifest)


def _edit_manifest(change):  # noqa: ANN001, ANN202
    def damage(settings: Settings) -> None:
        manifest = _manifest(settings)
        change(manifest)
        _write_manifest(settings, manifest)

    return damage


def _in_build(change):  # noqa: ANN001, ANN202
    return lambda settings: change(build_folder(settings))


def _in_segment(change):  # noqa: ANN001, ANN202
    return lambda settings: change(segment_folder(settings))


def resealed(change, where=segment_folder):  # noqa: ANN001, ANN202
    def damage(settings: Settings) -> None:
        change(where(settings))
        _reseal(settings)

    return damage


def _small_keyword_index(folder: Path) -> None:
    shutil.rmtree(folder / "keyword")
    other = bm25s.BM25()
    other.index([["cannabis"], ["crack"], ["heroin"]], show_progress=False)
    other.save(str(folder / "keyword"), show_progress=False)


def _edit_segment(change):  # noqa: ANN001, ANN202
    def edit(folder: Path) -> None:
        document = json.loads((folder / "segment.json").read_text())
        change(document)
        (folder / "segment.json").write_text(json.dumps(document))

    return edit


def _fewer_vectors(folder: Path) -> None:
    np.save(folder / "vectors.npy", np.load(folder / "vectors.npy")[:-1])


def _write(path: str, data: bytes):  # noqa: ANN202
    return lambda folder: (folder / path).write_bytes(data)


DAMAGE = {
    # The files themselves: a report's segment, and the library's build folder.
    "vectors garbage": (_in_segment(_write("vectors.npy", b"not an array")), "checksum mismatch"),
    "vectors truncated": (_in_segment(lambda f: _truncate(f / "vectors.npy")), "checksum mismatch"),
    "vectors missing": (_in_segment(lambda f: (f / "vectors.npy").unlink()), "missing: vectors.npy"),
    "segment truncated": (_in_segment(lambda f: _truncate(f / "segment.json")), "checksum mismatch"),
    "keyword stems truncated": (_in_segment(lambda f: _truncate(f / "keywords.json")), "keywords.json"),
    "keyword params corrupt": (_in_build(_write("keyword/params.index.json", b"{")), "keyword/params"),
    "keyword vocab truncated": (
        _in_build(lambda f: _truncate(f / "keyword/vocab.index.json")),
        "keyword/vocab",
    ),
    "keyword scores emptied": (_in_build(_write("keyword/data.csc.index.npy", b"")), "keyword/data"),
    "keyword folder missing": (_in_build(lambda f: shutil.rmtree(f / "keyword")), "missing: keyword/"),
    "place vectors truncated": (_in_build(lambda f: _truncate(f / "places.npy")), "checksum mismatch"),
    "token vectors truncated": (_in_segment(lambda f: _truncate(f / "tokens.npy")), "checksum mismatch"),
    "stray file": (_in_build(_write("keyword/extra.npy", b"x")), "not in the manifest"),
    "stray file in a segment": (_in_segment(_write("extra.npy", b"x")), "not in the manifest"),
    "build folder missing": (_in_build(shutil.rmtree), "no folder"),
    "segment folder missing": (_in_segment(shutil.rmtree), "missing: "),
    # The manifest.
    "manifest missing": (lambda s: (s.index_dir / MANIFEST_FILE).unlink(), "no index"),
    "manifest not UTF-8": (lambda s: (s.index_dir / MANIFEST_FILE).write_bytes(b"\xff\xfe{"), "unreadable"),
    "wrong checksum": (
        _edit_manifest(lambda m: m["segments"][0]["files"].update({"vectors.npy": "0" * 64})),
        "mismatch",
    ),
    "no file list": (_edit_manifest(lambda m: m.pop("files")), "does not list"),
    "file list not a dict": (_edit_manifest(lambda m: m.update(files="places.npy")), "does not list"),
    "no segment list": (_edit_manifest(lambda m: m.pop("segments")), "does not list the segments"),
    "segment file list": (_edit_manifest(lambda m: m["segments"][0].pop("files")), "does not list"),
    "segment of another report": (
        _edit_manifest(lambda m: m["segments"][0].update(doc="another")),
        "segments are not the reports",
    ),
    "segment outside the folder": (
        _edit_manifest(lambda m: m["segments"][0].update(name="../../etc")),
        "no valid segment",
    ),
    "build outside the folder": (_edit_manifest(lambda m: m.update(build="../../etc")), "no valid build"),
    "build not a string": (_edit_manifest(lambda m: m.update(build=7)), "no valid build"),
    "unit count": (_edit_manifest(lambda m: m.update(units=m["units"] + 1)), "unit count"),
    "dimension": (_edit_manifest(lambda m: m.update(dimension=768)), "dimension"),
    "passage ids": (_edit_manifest(lambda m: m.update(passages=m["passages"][:-1])), "passage ids"),
    "model": (_edit_manifest(lambda m: m.update(model="another-model")), "model changed"),
    "format": (_edit_manifest(lambda m: m.update(format=1)), "format changed"),
    # Files consistent with their checksums but not with each other (a mixed-up copy).
    "unit outside the passages": (
        resealed(_edit_segment(lambda d: d["units"][0].update(passage=999))),
        "outside the passages",
    ),
    "units of another shape": (resealed(_edit_segment(lambda d: d.update(units=[{"x": 1}]))), "unreadable"),
    "segment of another doc": (
        resealed(_edit_segment(lambda d: d.update(doc="another"))),
        "is not the report",
    ),
    "keyword index of another corpus": (resealed(_small_keyword_index, build_folder), "keyword index size"),
    "vectors of another build": (resealed(_fewer_vectors), "vector count"),
    "token vectors of another corpus": (
        resealed(_edit_segment(lambda d: d.update(token_offsets=d["token_offsets"][:-1]))),
        "token vectors do not match",
    ),
}


@pytest.mark.parametrize(("damage", "reason"), DAMAGE.values(), ids=DAMAGE.keys())
def test_every_damage_is_detected_on_load(own_settings: Settings, damage, reason: str) -> None:  # noqa: ANN001
    damage(own_settings)
    with pytest.raises(StaleIndex, match=re.escape(reason)):
        load_index(Corpus.from_seeds(own_settings.seeds_dir), own_settings)


def permute_vectors(folder: Path) -> None:
    np.save(folder / "vectors.npy", np.load(folder / "vectors.npy")[::-1])


def test_vectors_that_do_not_match_their_units_are_rebuilt(
    own_settings: Settings, embedder: Embedder, caplog
) -> None:
    """Checksums cannot tell a reordered vector file that was resealed: re-embedding a sample can."""
    resealed(permute_vectors)(own_settings)
    index = load_index(Corpus.from_seeds(own_settings.seeds_dir), own_settings)  # the files agree...
    with pytest.raises(StaleIndex, match="stored vectors do not match"):
        verify_vectors(index, embedder)  # ...but the vectors are not these units'
    with caplog.at_level(logging.WARNING, logger="qa.index"):
        rebuilt = open_index(own_settings, embedder)
    assert "rebuilding index: stored vectors do not match the units" in caplog.text
    verify_vectors(rebuilt, embedder)
    searcher = Searcher(rebuilt, embedder)
    assert searcher.ask("How many cannabis factories were found in London?").hits[0].passage.id == "16"


def test_a_valid_index_passes_verification(search_index: SearchIndex, embedder: Embedder) -> None:
    verify_vectors(search_index, embedder, samples=32)  # no false alarm on a sound index


# ---------------------------------------------------------------------------
# A read-only index folder: use a valid index as it is, otherwise build in memory and say so.


@contextlib.contextmanager
def read_only_mount(folder: Path) -> Iterator[None]:
    """Bind-mount `folder` read-only over itself: writes fail with EROFS, even for root (who
    ignores permission bits, so chmod cannot simulate this). Skips where mounting is not allowed."""

    def run(*args: str) -> bool:
        return subprocess.run(args, capture_output=True, check=False).returncode == 0

    if not run("mount", "--bind", str(folder), str(folder)):
        pytest.skip("cannot bind-mount here (needs CAP_SYS_ADMIN)")
    try:
        if not run("mount", "-o", "remount,bind,ro", str(folder), str(folder)):
            pytest.skip("cannot remount read-only here")
        yield
    finally:
        run("umount", str(folder))


def test_read_only_folder_is_detected_and_a_valid_index_used_as_is(
    own_settings: Settings, embedder: Embedder, caplog
) -> None:
    before = sorted(p.name for p in own_settings.index_dir.rglob("*"))
    with read_only_mount(own_settings.index_dir):
        with pytest.raises(OSError):
            (own_settings.index_dir / "probe").write_text("x")  # really read-only, even for root
        assert not _writable(own_settings.index_dir)
        with caplog.at_level(logging.INFO, logger="qa.index"):
            fingerprint = open_index(own_settings, embedder).fingerprint
        gc.collect()  # the index maps its token files: unmapped, the folder can be unmounted
    assert fingerprint == _manifest(own_settings)["fingerprint"]
    assert "rebuilding" not in caplog.text and "read-only" not in caplog.text
    assert sorted(p.name for p in own_settings.index_dir.rglob("*")) == before


def test_unwritable_index_folder_builds_in_memory_and_says_so(
    own_settings: Settings, embedder: Embedder, caplog
) -> None:
    blocker = own_settings.index_dir.parent / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    unwritable = own_settings.with_overrides(index_dir=blocker / "index")  # mkdir fails, even for root
    assert not _writable(unwritable.index_dir)
    with caplog.at_level(logging.WARNING, logger="qa.index"):
        index = open_index(unwritable, embedder)
    assert "read-only: building the index in memory only" in caplog.text
    assert len(index.units) == index.dense.ntotal == index.manifest["units"]
    assert Searcher(index, embedder).ask("What is the CDTB?").hits[0].passage.id == "22"


# ---------------------------------------------------------------------------
# Two builders at once (e.g. `qa build` while the server starts) wait for each other.


def test_two_concurrent_builds_produce_one_complete_index(settings: Settings, tmp_path: Path) -> None:
    shared = settings.with_overrides(index_dir=tmp_path / "index")
    shared.index_dir.mkdir()
    env = {**os.environ, "QA_SEEDS_DIR": str(shared.seeds_dir), "QA_INDEX_DIR": str(shared.index_dir)}
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    with open(shared.index_dir / ".build.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # hold both builders at the lock until both are there
        builders = [
            subprocess.Popen(
                [sys.executable, "-m", "qa.cli", "build"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=log.open("w"),
                text=True,
            )
            for log in logs
        ]
        _wait_for(lambda: all("rebuilding index: no index" in log.read_text() for log in logs), builders)
        fcntl.flock(lock, fcntl.LOCK_UN)
        outputs = [builder.communicate(timeout=300)[0] for builder in builders]
    assert [builder.returncode for builder in builders] == [0, 0], [log.read_text() for log in logs]
    assert sum("built index" in log.read_text() for log in logs) == 1  # the second reused the first's
    fingerprints = {output.split()[1].rstrip(":") for output in outputs}
    index = load_index(Corpus.from_seeds(shared.seeds_dir), shared)
    assert fingerprints == {index.fingerprint}
    assert len(index.units) == index.dense.ntotal == index.keyword.scores["num_docs"]
    folders = sorted(
        p.name for p in shared.index_dir.iterdir() if p.is_dir() and p.name not in {"cache", SEGMENTS_DIR}
    )
    assert folders == [index.fingerprint]  # no staging leftovers, no second build


def _wait_for(condition, processes: list[subprocess.Popen], timeout: float = 300) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        assert all(p.poll() is None for p in processes), "a builder exited early"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_per_passage_features_are_saved_with_the_index(settings, search_index: SearchIndex) -> None:  # noqa: ANN001
    from qa.index import read_manifest, read_segment

    manifest = read_manifest(settings.index_dir)
    assert manifest["places"] == list(search_index.features.places) and "London" in manifest["places"]
    segment = read_segment(settings.index_dir, manifest["segments"][0])
    assert len(segment.facts) == len(search_index.corpus.passages)
    table = search_index.corpus.position(search_index.corpus.resolve("table-1"))
    assert "london" in segment.facts[table]["rows"] and "haringey" in segment.facts[table]["rows"]
    officers = search_index.corpus.position(search_index.corpus.resolve("2"))
    assert "officers" in segment.facts[officers]["counted"]
    assert segment.counted.shape[1] == 384 and segment.counted.dtype == np.float16
    assert isinstance(segment.tokens, np.memmap)  # token vectors stay on disk until read


def test_searcher_start_up_encodes_nothing(search_index: SearchIndex, embedder: Embedder) -> None:
    calls = []
    original = embedder.encode_tokens
    embedder.encode_tokens = lambda *args, **kwargs: calls.append(args) or original(*args, **kwargs)  # type: ignore[method-assign]
    try:
        Searcher(search_index, embedder)
    finally:
        del embedder.encode_tokens
    assert calls == []


def test_each_reports_words_and_stems_are_read_at_build_and_saved(settings: Settings, embedder) -> None:  # noqa: ANN001
    """The words and stems a question's names are checked against are saved in each report's
    segment and read back: a question reads no report's whole text (~2 ms a report)."""
    from qa.query import report_vocabulary
    from qa.search import Searcher

    built = open_index(settings, embedder)
    loaded = load_index(built.corpus, settings)
    for index in (built, loaded):
        for report in index.corpus.reports:
            assert index.features.vocabularies[report.slug] == report_vocabulary(report)
    analyzer = Searcher(loaded, embedder).analyzer
    doc = loaded.corpus.docs[0]
    assert analyzer._vocabulary_of(doc) is loaded.features.vocabularies[doc]


def test_a_lone_text_is_encoded_as_sentence_transformers_encodes_it(embedder) -> None:  # noqa: ANN001
    """One text skips encode's per-call set-up, not its work: the same sentence vector, token vectors
    and word pieces, bit for bit, as through SentenceTransformer.encode (short, long, odd texts)."""
    texts = ["What does the report recommend?", "DIP", "£6.1m in 2005/06 — ¶16?", "word " * 300]
    for text in texts:
        lean = embedder.encode_tokens([text])
        assert embedder._lean
        embedder._lean = False
        try:
            full = embedder.encode_tokens([text])
        finally:
            embedder._lean = True
        assert np.array_equal(lean.vectors, full.vectors)
        assert all(np.array_equal(a, b) for a, b in zip(lean.tokens, full.tokens, strict=True))
        assert lean.pieces == full.pieces


def test_each_passages_words_around_are_read_at_build_and_saved(search_index, searcher) -> None:  # noqa: ANN001
    """The stems a decline rule checks a passage against are saved with its facts, the same as
    reading them from the passage and its report when asked."""
    from qa.features import home_place, words_around

    reader, corpus = searcher.reader, search_index.corpus
    for position, passage in enumerate(corpus.passages):
        saved = search_index.features.passages[position].around
        report = corpus.report_of(passage)
        read = words_around(passage, report, corpus.acronyms_of(passage.doc), home_place(report))
        assert saved is not None and saved == read
        assert reader.words_around(position) is saved
