"""Index segments on disk: one folder of files per report, written once, checked against its digests."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np

SEGMENTS_DIR = "segments"
_NAME = re.compile(r"[0-9a-f]{16}")
_CHUNK = 1 << 20  # files are hashed a megabyte at a time: never the whole token file in memory


class SegmentError(RuntimeError):
    """A segment's files are missing, damaged or not the ones its digests name."""


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def folder_digests(folder: Path) -> dict[str, str]:
    """Every file under `folder` (relative path -> sha256), in name order."""
    return {
        str(path.relative_to(folder)): file_digest(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def check_folder(folder: Path, expected: object, required: set[str], prefix: str = "") -> None:
    """Every file `expected` lists is in `folder` with its digest, and there are no others.
    (`prefix` says which folder, in the error.)"""
    if not isinstance(expected, dict) or not required <= set(expected):
        raise SegmentError(f"{prefix}manifest does not list the index files")
    actual = folder_digests(folder) if folder.is_dir() else {}
    for name, digest in sorted(expected.items()):
        if name not in actual:
            raise SegmentError(f"{prefix}index file missing: {name}")
        if actual[name] != digest:
            raise SegmentError(f"{prefix}index file damaged (checksum mismatch): {name}")
    unlisted = sorted(set(actual) - set(expected))
    if unlisted:
        raise SegmentError(f"{prefix}index file not in the manifest: {unlisted[0]}")


def segment_folder(index_dir: Path, name: object) -> Path:
    """The folder of a segment the manifest names (a name that could leave the folder is refused)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise SegmentError(f"manifest names no valid segment ({name!r})")
    return index_dir / SEGMENTS_DIR / name


def write_segment(
    index_dir: Path, name: str, arrays: Mapping[str, np.ndarray], documents: Mapping[str, object]
) -> dict[str, str]:
    """Write one segment's arrays (.npy) and JSON documents into a staging folder, hash them once,
    and move the folder into place in one rename. Returns the digests the manifest records."""
    final = segment_folder(index_dir, name)
    staging = final.parent / f".staging-{name}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for file, array in arrays.items():
        np.save(staging / file, np.ascontiguousarray(array), allow_pickle=False)
    for file, document in documents.items():
        (staging / file).write_text(json.dumps(document), encoding="utf-8")
    digests = folder_digests(staging)
    shutil.rmtree(final, ignore_errors=True)  # a damaged copy of the same segment, being replaced
    os.replace(staging, final)
    return digests


def read_array(folder: Path, file: str, *, mapped: bool = False) -> np.ndarray:
    """An array of a segment; `mapped` leaves it on disk (pages are read as they are used). The
    mapping is copy-on-write: nothing ever writes to it and the file is never changed, but a
    writable array can be handed to torch's fast float16 conversion without a copy (qa/ranking.py)."""
    return np.load(folder / file, mmap_mode="c" if mapped else None, allow_pickle=False)


def read_document(folder: Path, file: str) -> object:
    return json.loads((folder / file).read_text(encoding="utf-8"))


def intact(index_dir: Path, name: str, digests: object) -> bool:
    """Whether a segment written before is still there with the files it was written with: cheap
    enough for every reused segment on every add. Its contents are not hashed again here: an index
    load checks every digest, and a damaged segment found then is written again."""
    folder = segment_folder(index_dir, name)
    if not isinstance(digests, dict) or not folder.is_dir():
        return False
    present = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    return present == set(digests)


def remove_unlisted(index_dir: Path, keep: set[str]) -> None:
    """Drop segment folders no manifest names any more, and abandoned staging folders."""
    folder = index_dir / SEGMENTS_DIR
    if not folder.is_dir():
        return
    for child in folder.iterdir():
        if child.is_dir() and child.name not in keep:  # writers hold the lock: staging is abandoned
            shutil.rmtree(child, ignore_errors=True)
