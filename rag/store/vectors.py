"""The embedded store's dense leg: sealed HNSW parts, memory-mapped, and a flat part for recent writes.

A flat scan over a million 768-dimension vectors reads 3 GB per query (about 270 ms on two
cores) and must be loaded before the first one. So once recent writes hold ``seal_at``
vectors, they are sealed into an HNSW part: built once, written once, and opened with
``IO_FLAG_MMAP_IFC`` so its vectors stay in the page cache rather than being copied into
the process. Each part keeps its row ids (ascending, as rows are allocated) and a bitmap
of live positions; a deleted row is cleared there until compaction rebuilds the part.
Small filtered subsets are scored exactly from the mapped vectors instead of walking the
graph. Below ``seal_at`` chunks, everything is flat and search is exact.
"""

from __future__ import annotations

import threading
from pathlib import Path

import faiss
import numpy as np

from rag.store.base import best_first

# recall@10 0.995-1.0 of exact at 200k-1M chunks (benchmarks/bench_store.py)
M, EF_CONSTRUCTION, EF_SEARCH = (32, 64, 64)
EXACT_UP_TO = 4096  # a filtered part with at most this many allowed rows is scored exactly


class Sealed:
    """One HNSW part: the graph, its vectors memory-mapped, the row of each position, and which are live."""

    def __init__(self, index: faiss.Index, rows: np.ndarray):
        self.index, self.rows = index, rows
        self.live = np.ones(len(rows), dtype=bool)
        self.storage = faiss.downcast_index(index.storage)  # the flat vectors the graph links
        self.vectors = faiss.rev_swig_ptr(self.storage.get_xb(), index.ntotal * index.d).reshape(
            index.ntotal, index.d
        )

    @staticmethod
    def write(path: Path, rows_file: Path, vectors: np.ndarray, rows: np.ndarray) -> None:
        """The HNSW graph over ``vectors`` to ``path``, their rows to ``rows_file``
        (``rows_path(path)`` once in place)."""
        index = faiss.IndexHNSWFlat(vectors.shape[1], M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = EF_CONSTRUCTION
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        faiss.write_index(index, str(path))
        np.save(rows_file, np.asarray(rows, dtype=np.int64))

    @classmethod
    def open(cls, path: Path) -> Sealed:
        return cls(faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC), np.load(rows_path(path)))

    def remove(self, rows: np.ndarray) -> None:
        at = np.searchsorted(self.rows, rows)
        here = at < len(self.rows)
        here[here] = self.rows[at[here]] == rows[here]
        self.live[at[here]] = False

    def search(self, q: np.ndarray, k: int, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        mask = self.live if allowed is None else self.live & _by_row(allowed, self.rows)
        n_live = int(mask.sum())
        if not n_live:
            return []
        bits, selector = _selector(mask) if n_live < len(mask) else (None, None)
        if allowed is not None and n_live <= EXACT_UP_TO:  # few rows: scored exactly, in place, no graph
            scores, at = self.storage.search(q, min(k, n_live), params=faiss.SearchParameters(sel=selector))
        else:  # a filtered walk passes over rows it may not return: widened by √(1 / share allowed)
            # (in proportion: same recall@10, 1.0, at 1M chunks and a 20 % filter, but 30 % slower)
            ef = min(int(max(EF_SEARCH, k) * (len(mask) / n_live) ** 0.5), 4 * len(mask))
            params = faiss.SearchParametersHNSW(efSearch=ef, sel=selector)
            scores, at = self.index.search(q, min(k, n_live), params=params)
        return [(int(self.rows[i]), float(s)) for i, s in zip(at[0], scores[0]) if i >= 0]


def prefetch(paths: list[Path]) -> None:
    """Read mapped parts into the page cache from a background thread, in order: otherwise the first
    queries after opening fault their graphs in page by page (seconds each at a million chunks)."""

    def read_ahead() -> None:
        buffer = bytearray(8 << 20)
        for path in paths:
            try:
                with open(path, "rb", buffering=0) as f:
                    while f.readinto(buffer):
                        pass
            except OSError:  # gone (compacted meanwhile): nothing to warm
                pass

    if paths:
        threading.Thread(target=read_ahead, name="isnad-prefetch", daemon=True).start()


def _selector(mask: np.ndarray) -> tuple[np.ndarray, faiss.IDSelectorBitmap]:
    """A FAISS selector of the ids set in ``mask``, and the bits it points into (keep them alive while searching)."""
    bits = np.packbits(mask, bitorder="little")
    return bits, faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))


def _by_row(mask: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``mask[rows]``, False for rows past its end (chunks newer than the filter's columns)."""
    inside = rows < len(mask)
    out = np.zeros(len(rows), dtype=bool)
    out[inside] = mask[rows[inside]]
    return out


def rows_path(path: Path) -> Path:
    return path.with_name(path.stem + ".rows.npy")


class Vectors:
    """Sealed parts plus a flat part (exact, in memory) for the writes since the last seal."""

    def __init__(self, dim: int):
        self.dim = dim
        self.sealed: list[Sealed] = []
        self.flat = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    @property
    def ntotal(self) -> int:
        return self.flat.ntotal + sum(int(s.live.sum()) for s in self.sealed)

    def add(self, vectors: np.ndarray, rows: np.ndarray) -> None:
        self.flat.add_with_ids(
            np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(rows, dtype=np.int64)
        )

    def remove(self, rows: list[int] | np.ndarray) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        self.flat.remove_ids(rows)
        for s in self.sealed:
            s.remove(rows)

    def held_dead(self) -> int:
        """Deleted rows still in sealed parts (skipped until compaction rewrites them)."""
        return sum(int((~s.live).sum()) for s in self.sealed)

    def rows(self) -> np.ndarray:
        """Every live row."""
        return np.concatenate(
            [s.rows[s.live] for s in self.sealed] + [faiss.vector_to_array(self.flat.id_map)]
        )

    def flat_rows_and_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """The flat part's rows and vectors (what a seal writes)."""
        if not self.flat.ntotal:
            return np.zeros(0, np.int64), np.zeros((0, self.dim), np.float32)
        return faiss.vector_to_array(self.flat.id_map).astype(np.int64), self.flat.index.reconstruct_n(
            0, self.flat.ntotal
        )

    def all(self) -> tuple[np.ndarray, np.ndarray]:
        """Every live (row, vector), rows ascending (compaction, exact recall checks)."""
        rows, vectors = self.flat_rows_and_vectors()
        parts = [(s.rows[s.live], np.asarray(s.vectors[s.live])) for s in self.sealed] + [(rows, vectors)]
        rows, vectors = np.concatenate([r for r, _ in parts]), np.vstack([v for _, v in parts])
        order = np.argsort(rows)
        return rows[order], vectors[order]

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The ``k`` nearest live rows (inner product), best first; only rows ``allowed`` (a mask by row) when given."""
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        found: list[tuple[int, float]] = []
        if self.flat.ntotal:
            bits, selector = _selector(allowed) if allowed is not None else (None, None)
            scores, ids = self.flat.search(
                q, min(k, self.flat.ntotal), params=faiss.SearchParameters(sel=selector)
            )
            found = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
        for s in self.sealed:
            found += s.search(q, k, allowed)
        return best_first(found, k)
