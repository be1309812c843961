"""Building, saving, loading and rebuilding the index with the real model and real files."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from qa.config import Settings
from qa.corpus import Corpus
from qa.index import (
    MANIFEST_FILE,
    Embedder,
    SearchIndex,
    StaleIndex,
    build_units,
    load_index,
    open_index,
)

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


def test_manifest_records_what_was_built(search_index: SearchIndex, settings: Settings) -> None:
    manifest = json.loads((settings.index_dir / MANIFEST_FILE).read_text())
    assert manifest["model"] == "all-MiniLM-L6-v2"
    assert manifest["dimension"] == 384
    assert len(manifest["seed_hash"]) == 64
    assert manifest["passages"] == search_index.corpus.ids
    assert {"faiss-cpu", "bm25s", "sentence-transformers", "torch"} <= set(manifest["versions"])
    assert manifest["built_at"].endswith("Z")
    assert {"dense.faiss", "units.json"} <= set(manifest["files"])


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
        (lambda folder: (folder / "dense.faiss").write_bytes(b"not a faiss index"), "damaged"),
        (lambda folder: (folder / "dense.faiss").unlink(), "missing"),
        (lambda folder: _truncate(folder / "units.json"), "damaged"),
        (lambda folder: shutil.rmtree(folder / "keyword"), "missing"),
        (lambda folder: _truncate(folder / "tokens.npz"), "damaged"),
    ],
)
def test_damaged_files_trigger_a_rebuild(
    own_settings: Settings, embedder: Embedder, caplog, damage, reason
) -> None:
    damage(build_folder(own_settings))
    with caplog.at_level(logging.WARNING, logger="qa.index"):
        index = open_index(own_settings, embedder)
    assert f"rebuilding index: index file {reason}" in caplog.text
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
    leftovers = [p.name for p in own_settings.index_dir.iterdir() if p.name.startswith(".staging")]
    assert leftovers == []


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
