"""BM25 postings for the embedded store: one segment per sealed part, and recent writes'
segments merged in memory as they multiply.

A segment holds, for every term, its chunk rows, term frequencies and chunk lengths, sorted by
term (a column-major sparse matrix). A part's segment is saved without pickle beside its
vectors and memory-mapped when opened. Recent writes live in SQLite until sealed; here each
write's segment joins the recent ones, and ten of a size merge into one of the next size
(Lucene's tiered merging), so a query touches a few dozen segments however many
single-document uploads came before. Scores are bm25s's formula (Lucene's idf, k1 = 1.5,
b = 0.75) with the corpus's exact document frequencies and lengths passed in by the store
(kept in SQLite in each write's transaction), so rankings equal the generation-folder
index's and PostgreSQL's. A query touches only its terms' postings: numpy over the rows that
contain them, not a matcher over the corpus.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from rag.store.base import best_first

K1, B = 1.5, 0.75  # bm25s's defaults, as the generation folders use
RECORD = np.dtype([("row", np.int64), ("tf", np.float32), ("dl", np.float32)])  # one posting on disk
MERGE_AT = 10  # recent segments of one size tier merged into one of the next


class Segment:
    """Postings of some rows: ``terms`` sorted; term i's postings are ``[indptr[i], indptr[i+1])``, rows ascending."""

    def __init__(
        self, terms: np.ndarray, indptr: np.ndarray, rows: np.ndarray, tf: np.ndarray, dl: np.ndarray
    ):
        self.terms, self.indptr, self.rows, self.tf, self.dl = terms, indptr, rows, tf, dl

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def build(cls, rows: list[int], tokens: list[list[str]]) -> Segment:
        """Postings of ``tokens[i]`` as row ``rows[i]``: terms numbered in one pass, counted in numpy."""
        vocab: dict[str, int] = {}
        lengths = np.array([len(t) for t in tokens], dtype=np.int64)
        ids = np.fromiter(
            (vocab.setdefault(w, len(vocab)) for t in tokens for w in t), np.int64, int(lengths.sum())
        )
        width = max(len(vocab), 1)
        pairs, tf = np.unique(np.repeat(np.arange(len(tokens)), lengths) * width + ids, return_counts=True)
        at = pairs // width
        return cls._of(
            np.array(list(vocab), dtype=str),
            pairs % width,
            np.asarray(rows, dtype=np.int64)[at],
            tf.astype(np.float32),
            lengths[at].astype(np.float32),
        )

    @classmethod
    def merged(cls, segments: list[Segment], dead: np.ndarray) -> Segment:
        """Every posting of ``segments`` whose row is not ``dead``, in one segment."""
        if not segments:
            return cls.build([], [])
        offsets = np.cumsum([0] + [len(s.terms) for s in segments[:-1]])
        ids = np.concatenate(
            [np.repeat(np.arange(len(s.terms)) + o, np.diff(s.indptr)) for s, o in zip(segments, offsets)]
        )
        rows, tf, dl = (np.concatenate([getattr(s, a) for s in segments]) for a in ("rows", "tf", "dl"))
        keep = ~np.isin(rows, dead)
        return cls._of(np.concatenate([s.terms for s in segments]), ids[keep], rows[keep], tf[keep], dl[keep])

    @classmethod
    def _of(
        cls, vocab: np.ndarray, ids: np.ndarray, rows: np.ndarray, tf: np.ndarray, dl: np.ndarray
    ) -> Segment:
        """From one entry per posting in any order, its term given as a position in ``vocab`` (which may
        repeat terms): sorted by term, then row. Strings are sorted once per distinct term, postings as integers."""
        terms, term_of = np.unique(vocab, return_inverse=True)
        ids = term_of.ravel()[ids] if len(ids) else ids
        order = np.argsort(ids * (int(rows.max(initial=0)) + 1) + rows)
        counts = np.bincount(ids, minlength=len(terms))
        indptr = np.zeros(int((counts > 0).sum()) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum(counts[counts > 0])
        return cls(terms[counts > 0], indptr, rows[order], tf[order], dl[order])

    def postings(self, term: str) -> slice | None:
        i = int(np.searchsorted(self.terms, term))
        if i < len(self.terms) and self.terms[i] == term:
            return slice(int(self.indptr[i]), int(self.indptr[i + 1]))
        return None

    def save(self, terms_file: Path, postings_file: Path) -> None:
        """The vocabulary (small, read at open) and the postings as one array of (row, tf, dl) records
        (large, memory-mapped at open: a query reads only its terms' pages)."""
        with open(terms_file, "wb") as f:
            np.savez(f, terms=self.terms, indptr=self.indptr)
        records = np.empty(len(self.rows), dtype=RECORD)
        records["row"], records["tf"], records["dl"] = self.rows, self.tf, self.dl
        np.save(postings_file, records)

    @classmethod
    def load(cls, terms_file: Path, postings_file: Path) -> Segment:
        with np.load(terms_file, allow_pickle=False) as z:
            terms, indptr = z["terms"], z["indptr"]
        records = np.load(postings_file, mmap_mode="r", allow_pickle=False)
        if records.dtype != RECORD or len(records) != indptr[-1]:
            raise ValueError(f"{postings_file.name} does not match {terms_file.name}")
        return cls(terms, indptr, records["row"], records["tf"], records["dl"])


class Postings:
    """The parts' segments and the recent ones; rows of deleted chunks are skipped until a seal or
    compaction drops them."""

    def __init__(
        self,
        parts: list[Segment] | None = None,
        recent: list[Segment] | None = None,
        dead: np.ndarray | None = None,
    ):
        self.parts: list[Segment] = parts or []
        self.recent: list[Segment] = recent or []
        self.dead = np.zeros(0, dtype=np.int64) if dead is None else dead

    @property
    def segments(self) -> list[Segment]:
        return self.parts + self.recent

    def add(self, segment: Segment) -> None:
        """A recent write's postings; then any ``MERGE_AT`` newest segments of one size tier (powers of ten
        postings, or smaller) merged, so n postings sit in O(log n) segments, each merged O(log n) times."""
        self.recent.append(segment)
        while n := mergeable([len(s) for s in self.recent]):
            self.recent[-n:] = [Segment.merged(self.recent[-n:], self.dead)]

    def remove(self, rows: list[int] | np.ndarray) -> None:
        self.dead = np.union1d(self.dead, np.asarray(rows, dtype=np.int64))

    def search(
        self,
        words: list[str],
        df: dict[str, int],
        n_chunks: int,
        total_terms: int,
        k: int,
        allowed: np.ndarray | None = None,
    ) -> list[tuple[int, float]]:
        """The ``k`` best (row, score), best first, ties by row; only rows ``allowed`` (a mask by row) when given.

        MaxScore: a term adds less than its idf to any chunk, so the most common terms, whose idfs sum to
        less than the k-th best score of the others, cannot lift a chunk that has none of the others into
        the top k. Their (long) postings are then only looked up for the chunks that could still rank."""
        idf, avgdl = idfs(words, df, n_chunks, total_terms)
        scored, common = split_common(idf, max(idf.values(), default=0) / 2)
        hits = self._hits(scored, idf, avgdl)
        if not hits:
            return []
        scores = _summed(hits)
        eligible = self._eligible(scores, allowed)
        bound = sum(idf[w] for w in common)
        if common and len(eligible) >= k and bound < (kth := np.partition(scores[eligible], -k)[-k]):
            # the only chunks that can still reach the top k
            eligible = eligible[scores[eligible] + bound >= kth]
            for w in common:
                for s in self.segments:
                    if (span := s.postings(w)) is not None:
                        rows = s.rows[span]
                        at = np.searchsorted(rows, eligible)  # a term's rows are ascending in a segment
                        found = at < len(rows)
                        found[found] = rows[at[found]] == eligible[found]
                        scores[eligible[found]] += self._weights(s, span.start + at[found], idf[w], avgdl)
        elif common:  # no cut-off to prune with: score the common terms in full
            scores = _summed(hits + self._hits(common, idf, avgdl))
            eligible = self._eligible(scores, allowed)
        candidates = eligible
        if len(candidates) > k:
            candidates = candidates[np.argpartition(-scores[candidates], k - 1)[:k]]
            # rows tied with the k-th score that argpartition left out: ties go to the lower row
            kth = scores[candidates].min()
            candidates = np.union1d(candidates, eligible[scores[eligible] == kth])
        return best_first(zip(candidates, scores[candidates]), k)

    def _hits(
        self, words: list[str], idf: dict[str, float], avgdl: float
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """(rows, weights) of each of ``words``' postings lists, segment by segment."""
        return [
            (s.rows[span], self._weights(s, span, idf[w], avgdl))
            for w in words
            for s in self.segments
            if (span := s.postings(w)) is not None
        ]

    @staticmethod
    def _weights(s: Segment, where: slice | np.ndarray, idf: float, avgdl: float) -> np.ndarray:
        """bm25s's term weight of the postings of ``s`` at ``where`` (a term's span, or some positions)."""
        tf, dl = s.tf[where].astype(np.float64), s.dl[where].astype(np.float64)
        return idf * tf / (tf + K1 * (1 - B + B * dl / avgdl))

    def _eligible(self, scores: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
        """Rows with a score, neither deleted nor filtered out (their scores zeroed)."""
        if len(self.dead):
            scores[self.dead[self.dead < len(scores)]] = 0
        if allowed is not None:
            n = min(len(allowed), len(scores))
            scores[n:] = 0
            scores[:n][~allowed[:n]] = 0
        return np.flatnonzero(scores > 0)


def idfs(
    words: list[str], df: dict[str, int], n_chunks: int, total_terms: int
) -> tuple[dict[str, float], float]:
    """Lucene's idf of each of ``words`` in the corpus (the absent ones left out), and the mean chunk length."""
    idf = {
        w: math.log(1 + (n_chunks - df[w] + 0.5) / (df[w] + 0.5)) for w in dict.fromkeys(words) if df.get(w)
    }
    return idf, max(total_terms / max(n_chunks, 1), 1.0)


def split_common(idf: dict[str, float], below: float) -> tuple[list[str], list[str]]:
    """MaxScore's split: (terms scored in full, rarest first; the commonest terms, whose idfs sum to less than
    ``below``, looked up only for the chunks the others leave in reach of the top k)."""
    scored = sorted(idf, key=lambda w: -idf[w])
    common: list[str] = []
    while len(scored) > 1 and sum(idf[w] for w in common) + idf[scored[-1]] < below:
        common.append(scored.pop())
    return scored, common


def _summed(hits: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Each row's summed weight over ``hits``, as an array by row."""
    return np.bincount(np.concatenate([r for r, _ in hits]), weights=np.concatenate([w for _, w in hits]))


def mergeable(sizes: list[int]) -> int:
    """How many of the newest segments (their posting counts, oldest first) to merge: the shortest run of
    them, all at or below one size tier (powers of ten), that reaches ``MERGE_AT`` (0: none). Mixed sizes
    merge too, so nothing piles up unmerged."""
    tiers = [int(math.log10(max(n, 1))) for n in sizes]
    for tier in sorted(set(tiers)):
        n = next((i for i, t in enumerate(reversed(tiers)) if t > tier), len(tiers))
        if n >= MERGE_AT:
            return n
    return 0
