"""The segment store: an add writes one report's segment, a remove drops one, damage is found, and
the manifest swap is the only moment the saved index changes. A fake model, so no real one loads."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from qa.config import Settings, load_settings
from qa.corpus import Corpus, load_report
from qa.index import (
    CACHE_DIR,
    MANIFEST_FILE,
    Encoded,
    StaleIndex,
    build_index,
    build_units,
    expected_identity,
    load_index,
    open_index,
    refresh_index,
)
from qa.segments import SEGMENTS_DIR
from tests.conftest import DATA_DIR, REPORT_FILE

SECOND = DATA_DIR / "reports" / "2002-03-12_home-office-holly-royde-conference.txt"  # sorts first
DIMENSION = 384


def _vector(text: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(DIMENSION).astype(np.float32)
    return vector / np.linalg.norm(vector)


class FakeEmbedder:
    """Stands in for the model: a fixed vector per text and per word; remembers what it encoded."""

    dimension = DIMENSION

    def __init__(self, fail_on: str = "") -> None:
        self.texts: list[str] = []
        self.fail_on = fail_on  # a text that makes encode_tokens fail (a model error mid-add)

    @property
    def texts_encoded(self) -> int:
        return len(self.texts)

    def encode(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        self.texts += texts
        return np.stack([_vector(text) for text in texts])

    def encode_tokens(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> Encoded:
        if any(self.fail_on and self.fail_on in text for text in texts):
            raise RuntimeError("the model failed")
        self.texts += texts
        words = [re.findall(r"[a-z0-9]+", text.lower()) or ["-"] for text in texts]
        tokens = [np.stack([_vector(word) for word in row]) for row in words]
        return Encoded(np.stack([_vector(text) for text in texts]), tokens, words)

    def word_pieces(self, word: str) -> list[str]:
        return re.findall(r"[a-z0-9]+", word) or [word]


@pytest.fixture()
def library(tmp_path: Path) -> Settings:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(REPORT_FILE, seeds)
    settings = load_settings({}).with_overrides(seeds_dir=seeds, index_dir=tmp_path / "index")
    refresh_index(settings, FakeEmbedder())
    return settings


def _manifest(settings: Settings) -> dict:
    return json.loads((settings.index_dir / MANIFEST_FILE).read_text())


def _segment_files(settings: Settings) -> dict[str, tuple[int, int]]:
    """Every file under segments/ with its inode and modification time: what was (re)written."""
    root = settings.index_dir / SEGMENTS_DIR
    return {
        str(path.relative_to(root)): (path.stat().st_ino, path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _corpus(settings: Settings) -> Corpus:
    return Corpus.from_seeds(settings.seeds_dir)


def test_an_add_writes_only_the_new_reports_segment(library: Settings) -> None:
    before, files = _manifest(library), _segment_files(library)
    shutil.copy(SECOND, library.seeds_dir)
    model = FakeEmbedder()
    after = refresh_index(library, model)
    assert [s["doc"] for s in after["segments"]] == [SECOND.stem, REPORT_FILE.stem]
    assert after["segments"][1] == before["segments"][0]  # the seed's segment, reused as it was
    unchanged = {name: stamp for name, stamp in _segment_files(library).items() if name in files}
    assert unchanged == files  # not one of its files written again
    new = load_report(SECOND)
    own = {unit.text for unit in build_units(Corpus([new]))}
    others = [text for text in model.texts if text not in own and not text.startswith("people who live in")]
    assert len(others) <= len(new.passages)  # the rest: the new report's counted words, one text a passage
    assert not set(model.texts) & {unit.text for unit in build_units(Corpus([load_report(REPORT_FILE)]))}
    assert load_index(_corpus(library), library).fingerprint == after["fingerprint"]


def test_an_index_put_together_from_segments_equals_one_built_at_once(library: Settings) -> None:
    shutil.copy(SECOND, library.seeds_dir)
    refresh_index(library, FakeEmbedder())
    corpus = _corpus(library)
    loaded = load_index(corpus, library)
    whole = build_index(corpus, FakeEmbedder(), expected_identity(library))
    assert loaded.units == whole.units
    assert np.array_equal(loaded.unit_vectors(), whole.unit_vectors())
    for words in (["cannabi"], ["confer", "offic"], ["polic"]):
        assert np.array_equal(loaded.keyword.get_scores(words), whole.keyword.get_scores(words))
    assert all(np.array_equal(a, b) for a, b in zip(loaded.passage_tokens, whole.passage_tokens, strict=True))
    assert loaded.features.common_stems == whole.features.common_stems
    assert loaded.features.places == whole.features.places
    assert np.array_equal(loaded.features.place_tokens, whole.features.place_tokens)
    assert all(
        (a.stems, a.counted, a.labels, a.years, a.rows) == (b.stems, b.counted, b.labels, b.years, b.rows)
        and np.array_equal(a.counted_tokens, b.counted_tokens)
        for a, b in zip(loaded.features.passages, whole.features.passages, strict=True)
    )


def test_a_remove_drops_one_segment_and_its_cache(library: Settings) -> None:
    shutil.copy(SECOND, library.seeds_dir)
    with_two = refresh_index(library, FakeEmbedder())
    dropped, kept = with_two["segments"]
    files = {name: stamp for name, stamp in _segment_files(library).items() if name.startswith(kept["name"])}
    (library.seeds_dir / SECOND.name).unlink()
    model = FakeEmbedder()
    after = refresh_index(library, model)
    assert after["segments"] == [kept]
    # Nothing of a report is encoded; the library's places are, as they changed with it.
    assert all(text.startswith("people who live in ") for text in model.texts)
    assert _segment_files(library) == files
    cache = sorted(path.name for path in (library.index_dir / CACHE_DIR).iterdir())
    assert cache == sorted(kept["cache"]) and not set(cache) & set(dropped["cache"])


def test_a_damaged_segment_is_found_on_load_and_written_again(library: Settings) -> None:
    shutil.copy(SECOND, library.seeds_dir)
    manifest = refresh_index(library, FakeEmbedder())
    tokens = library.index_dir / SEGMENTS_DIR / manifest["segments"][0]["name"] / "tokens.npy"
    data = bytearray(tokens.read_bytes())
    data[-8:] = bytes(8)  # the same size, other bytes: only the checksum can tell
    tokens.write_bytes(bytes(data))
    corpus = _corpus(library)
    with pytest.raises(StaleIndex, match=f"segment {manifest['segments'][0]['name']}: .*checksum mismatch"):
        load_index(corpus, library)
    index = open_index(library, FakeEmbedder())  # rebuilt, the damaged segment written anew
    assert load_index(corpus, library).fingerprint == index.fingerprint


def test_the_manifest_swap_is_the_only_change_a_reader_can_see(
    library: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = (library.index_dir / MANIFEST_FILE).read_bytes()
    old_corpus = _corpus(library)
    shutil.copy(SECOND, library.seeds_dir)
    with pytest.raises(RuntimeError, match="the model failed"):  # fails while embedding the new report
        refresh_index(library, FakeEmbedder(fail_on="Holly Royde"))

    def no_swap(path: Path, payload: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("qa.index._write_json_atomic", no_swap)
    with pytest.raises(OSError, match="disk full"):  # fails once every file but the manifest is written
        refresh_index(library, FakeEmbedder())
    assert (library.index_dir / MANIFEST_FILE).read_bytes() == before
    (library.seeds_dir / SECOND.name).unlink()  # as `qa add` puts the folder back on a failure
    assert load_index(old_corpus, library).fingerprint == json.loads(before)["fingerprint"]
    monkeypatch.undo()
    shutil.copy(SECOND, library.seeds_dir)
    after = refresh_index(library, FakeEmbedder())
    assert [s["doc"] for s in after["segments"]] == [SECOND.stem, REPORT_FILE.stem]
    listed = sorted(segment["name"] for segment in after["segments"])
    assert sorted(os.listdir(library.index_dir / SEGMENTS_DIR)) == listed  # no staging or orphan left
