"""Hybrid retrieval: dense (FAISS) and BM25 lists fused by reciprocal rank fusion.

Dense search carries cross-lingual questions (English question, Arabic article);
BM25 carries exact Arabic names and numbers. RRF needs no score calibration
between the two, which is why it is the default. BM25's list counts half as much as the
dense one (``bm25_weight``), chosen on XQuAD-ar and confirmed on ARCD-test (docs/evaluation.md).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from rag.models.embedder import Embedder
from rag.store.base import Reader, Stored, check_compatible
from rag.text.arabic import bm25_tokens
from rag.types import Document, Filters, Hit

Mode = Literal["hybrid", "dense", "bm25"]
MODES: tuple[str, ...] = ("hybrid", "dense", "bm25")


def rrf(
    ranked_lists: list[list[int]], k: int = 60, weights: list[float] | None = None
) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: score(d) = sum_i w_i / (k + rank_i(d)), ranks from 1."""
    weights = weights or [1.0] * len(ranked_lists)
    scores: dict[int, float] = {}
    for ranking, w in zip(ranked_lists, weights):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + w / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


class Searcher:
    """The retrieval stage as a plain object: a store (any `Reader`) + embedder + fusion settings.

    The store ranks each leg; the Searcher embeds, tokenises (Isnad's own Arabic analysis),
    fuses and builds citable hits. Documents are read through it, never through the store's insides.
    """

    def __init__(
        self,
        store: Reader,
        embedder: Embedder,
        rrf_k: int = 60,
        candidates: int = 50,
        bm25_weight: float = 0.5,
    ):
        check_compatible(store.info(), embedder.model_id)
        self.store = store
        self.embedder = embedder
        self.rrf_k = rrf_k
        self.bm25_weight = bm25_weight
        self.candidates = candidates
        self._qvecs: dict[str, np.ndarray] = {}
        self._docs: dict[str, Document] | None = None

    def embed_queries(self, queries: list[str]) -> None:
        """Embed many queries in one batch ahead of searching them (evaluations, load tests)."""
        todo = [q for q in dict.fromkeys(queries) if q not in self._qvecs]
        for q, v in zip(todo, self.embedder.embed_queries(todo) if todo else []):
            self._remember(q, v)

    def _remember(self, query: str, vec: np.ndarray) -> None:
        if len(self._qvecs) >= 4096:
            self._qvecs.pop(next(iter(self._qvecs)))
        self._qvecs[query] = vec

    def _query_vector(self, query: str) -> np.ndarray:
        if query not in self._qvecs:
            self._remember(query, self.embedder.embed_queries([query])[0])
        return self._qvecs[query]

    def documents(self) -> dict[str, Document]:
        """Every document by id, read once per Searcher (a Searcher is rebuilt when the corpus changes)."""
        if self._docs is None:
            self._docs = {d.doc_id: d for d in sorted(self.store.documents(), key=lambda d: d.source)}
        return self._docs

    def document(self, doc_id: str) -> Document | None:
        """One document; one not seen yet (another process added it to a shared store) re-reads the list."""
        if doc_id not in self.documents():
            self._docs = None
        return self.documents().get(doc_id)

    def search(
        self,
        query: str,
        k: int = 5,
        mode: Mode = "hybrid",
        filters: Filters | None = None,
        bm25_weight: float | None = None,
    ) -> list[Hit]:
        """The k best chunks; ``bm25_weight`` overrides the fusion weight for this query only."""
        if mode not in MODES:
            raise ValueError(f"unknown retrieval mode '{mode}'; use one of {', '.join(MODES)}")
        if not query.strip():
            raise ValueError("the query is empty")
        f = filters or Filters()
        legs = self.store.search(
            self._query_vector(query) if mode in ("hybrid", "dense") else None,
            bm25_tokens(query) if mode in ("hybrid", "bm25") else None,
            max(k, self.candidates),
            Filters(f.outlet, f.date_from, f.date_to, f.doc_ids),
        )
        if mode == "dense":
            fused = legs.dense
        elif mode == "bm25":
            fused = legs.bm25
        else:
            fused = rrf(
                [[i for i, _ in legs.dense], [i for i, _ in legs.bm25]],
                self.rrf_k,
                [1.0, self.bm25_weight if bm25_weight is None else bm25_weight],
            )
        dense = {i: (r, score) for r, (i, score) in enumerate(legs.dense, start=1)}
        bm25 = {i: (r, score) for r, (i, score) in enumerate(legs.bm25, start=1)}
        top = fused[:k]
        stored = {s.row: s for s in self.store.fetch([i for i, _ in top])}
        return [
            _hit(rank, stored[i], score, dense.get(i), bm25.get(i))
            for rank, (i, score) in enumerate(top, start=1)
            if i in stored
        ]


def _hit(
    rank: int, s: Stored, score: float, dense: tuple[int, float] | None, bm25: tuple[int, float] | None
) -> Hit:
    c, d = s.chunk, s.doc
    return Hit(
        rank,
        round(score, 6),
        c.chunk_id,
        c.doc_id,
        d.source,
        d.title,
        d.outlet,
        d.date,
        c.text,
        c.start,
        c.end,
        c.sentences,
        dense[0] if dense else None,
        bm25[0] if bm25 else None,
        d.arrival(),
        round(float(dense[1]), 6) if dense else None,
        round(float(bm25[1]), 6) if bm25 else None,
    )


class IsnadRetriever(BaseRetriever):
    """LangChain face of :class:`Searcher`, so chains can use it like any retriever."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    searcher: Any
    k: int = 5
    mode: Mode = "hybrid"
    filters: Filters | None = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[LCDocument]:
        hits = self.searcher.search(query, self.k, self.mode, self.filters)
        return [
            LCDocument(page_content=h.text, metadata={k: v for k, v in h.to_dict().items() if k != "text"})
            for h in hits
        ]
