"""The generation folders of an index: which one is current, repairing a broken pointer, reading documents back."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import IndexCorruptError
from rag.store.lock import fix_hint


def _current_name(index_dir: Path) -> str | None:
    """What CURRENT says, or None when it is absent or not a generation name."""
    try:
        name = (index_dir / "CURRENT").read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return name if name.startswith("gen-") and "/" not in name else None


def _read_current(index_dir: Path) -> str | None:
    name = _current_name(index_dir)
    if name is None and (index_dir / "CURRENT").exists():
        raise IndexCorruptError(f"{index_dir / 'CURRENT'} is damaged; {fix_hint(index_dir)}")
    return name


def _point_current(index_dir: Path, name: str) -> None:
    """Switch CURRENT to generation ``name`` atomically (readers see the old or the new, never half)."""
    pointer = index_dir / ".CURRENT.tmp"
    pointer.write_text(name)
    _fsync_file(pointer)
    os.replace(pointer, index_dir / "CURRENT")


def _gen_number(path: Path) -> int:
    try:
        return int(path.name.split("-")[1])
    except (IndexError, ValueError):
        return 0


def _write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def _read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_tree(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_file():
            _fsync_file(p)


@dataclass
class Manifest:
    format_version: int
    model_id: str
    dim: int
    chunker: dict
    corpus_hash: str
    n_docs: int
    n_chunks: int
    created: str
    files: dict[str, str] = field(default_factory=dict)
