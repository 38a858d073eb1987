"""BM25 over append-only postings segments, for the embedded store.

Each upsert writes one segment: for every term its chunk rows, term frequencies and chunk
lengths, sorted by term (a column-major sparse matrix), saved without pickle next to the
segment's vectors. Scores are bm25s's formula (Lucene's idf, k1 = 1.5, b = 0.75) with the
corpus's exact document frequencies and lengths passed in by the store (kept in SQLite in
each write's transaction), so rankings equal the generation-folder index's and PostgreSQL's.
A query touches only its terms' postings: numpy over the rows that contain them, not a
matcher over the corpus.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np

K1, B = 1.5, 0.75  # bm25s's defaults, as the generation folders use


class Segment:
    """One upsert's postings: ``terms`` sorted; term i's postings are ``[indptr[i], indptr[i+1])``."""

    def __init__(self, terms: np.ndarray, indptr: np.ndarray, rows: np.ndarray, tf: np.ndarray, dl: np.ndarray):
        self.terms, self.indptr, self.rows, self.tf, self.dl = terms, indptr, rows, tf, dl

    @classmethod
    def build(cls, rows: list[int], tokens: list[list[str]]) -> "Segment":
        counts = [(row, len(t), Counter(t)) for row, t in zip(rows, tokens)]
        return cls._of(np.array([term for _, _, c in counts for term in c], dtype=str),
                       np.array([row for row, _, c in counts for _ in c], dtype=np.int64),
                       np.array([n for _, _, c in counts for n in c.values()], dtype=np.float32),
                       np.array([dl for _, dl, c in counts for _ in c], dtype=np.float32))

    @classmethod
    def merged(cls, segments: list["Segment"], dead: np.ndarray) -> "Segment":
        """Every live posting of ``segments`` in one segment (compaction)."""
        parts = [(np.repeat(s.terms, np.diff(s.indptr)), s.rows, s.tf, s.dl) for s in segments]
        if not parts:
            return cls._of(np.zeros(0, dtype=str), np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.float32))
        terms, rows, tf, dl = (np.concatenate([p[i] for p in parts]) for i in range(4))
        keep = ~np.isin(rows, dead)
        return cls._of(terms[keep], rows[keep], tf[keep], dl[keep])

    @classmethod
    def _of(cls, terms: np.ndarray, rows: np.ndarray, tf: np.ndarray, dl: np.ndarray) -> "Segment":
        """From one entry per posting, in any order: sorted by term, then row."""
        order = np.lexsort((rows, terms))
        terms, rows, tf, dl = terms[order], rows[order], tf[order], dl[order]
        unique, counts = np.unique(terms, return_counts=True)
        indptr = np.zeros(len(unique) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum(counts)
        return cls(unique, indptr, rows, tf, dl)

    def postings(self, term: str) -> slice | None:
        i = int(np.searchsorted(self.terms, term))
        if i < len(self.terms) and self.terms[i] == term:
            return slice(int(self.indptr[i]), int(self.indptr[i + 1]))
        return None

    def save(self, path: Path) -> None:
        with open(path, "wb") as f:
            np.savez(f, terms=self.terms, indptr=self.indptr, rows=self.rows, tf=self.tf, dl=self.dl)

    @classmethod
    def load(cls, path: Path) -> "Segment":
        with np.load(path, allow_pickle=False) as z:
            return cls(z["terms"], z["indptr"], z["rows"], z["tf"], z["dl"])


class Postings:
    """All segments in memory; rows of deleted chunks are skipped until compaction drops them."""

    def __init__(self):
        self.segments: list[Segment] = []
        self.dead = np.zeros(0, dtype=np.int64)

    def add(self, segment: Segment) -> None:
        self.segments.append(segment)

    def remove(self, rows: list[int] | np.ndarray) -> None:
        self.dead = np.union1d(self.dead, np.asarray(rows, dtype=np.int64))

    def search(self, words: list[str], df: dict[str, int], n_chunks: int, total_terms: int, k: int,
               allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The ``k`` best (row, score), best first, ties by row; only rows ``allowed`` (a mask by row) when given."""
        avgdl = max(total_terms / max(n_chunks, 1), 1.0)
        rows, weights = [], []
        for word in dict.fromkeys(words):
            if not df.get(word):
                continue
            idf = math.log(1 + (n_chunks - df[word] + 0.5) / (df[word] + 0.5))
            for s in self.segments:
                if (span := s.postings(word)) is not None:
                    tf, dl = s.tf[span].astype(np.float64), s.dl[span].astype(np.float64)
                    rows.append(s.rows[span])
                    weights.append(idf * tf / (tf + K1 * (1 - B + B * dl / avgdl)))
        if not rows:
            return []
        all_rows = np.concatenate(rows)
        scores = np.bincount(all_rows, weights=np.concatenate(weights))
        if len(self.dead):
            scores[self.dead[self.dead < len(scores)]] = 0
        if allowed is not None:
            n = min(len(allowed), len(scores))
            scores[n:] = 0
            scores[:n][~allowed[:n]] = 0
        eligible = candidates = np.flatnonzero(scores > 0)
        if len(candidates) > k:
            candidates = candidates[np.argpartition(-scores[candidates], k - 1)[:k]]
            # rows tied with the k-th score that argpartition left out: ties go to the lower row
            kth = scores[candidates].min()
            candidates = np.union1d(candidates, eligible[scores[eligible] == kth])
        ranked = sorted(((int(r), float(scores[r])) for r in candidates), key=lambda x: (-x[1], x[0]))
        return ranked[:k]
