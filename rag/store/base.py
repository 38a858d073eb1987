"""What a store is: it keeps documents, chunks, vectors and tokens, and ranks; Isnad does the rest.

Isnad keeps analysis (its own Arabic tokens, `rag.text_ar.bm25_tokens`), fusion (`rrf` in
the Searcher) and citation. A store only stores and ranks, so an embedded engine and a
server engine answer the same calls and pass the same contract tests
(tests/test_store.py). Ids are the store's integer row ids: stable for a chunk's
lifetime, never reused, and the only thing a search returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from rag.chunking import Chunk
from rag.ingest import Document
from rag.text_ar import normalize_ar


@dataclass(frozen=True)
class StoreFilters:
    """Indexed filters: one outlet (matched on its folded key), an inclusive ISO date range, some documents."""

    outlet: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    doc_ids: frozenset[str] | None = None

    def __bool__(self) -> bool:
        return bool(self.outlet or self.date_from or self.date_to or self.doc_ids is not None)


@dataclass
class StoreInfo:
    """What the index was built with (for the compatibility check) and how big it is."""

    model_id: str
    dim: int
    chunker: dict
    n_docs: int = 0
    n_chunks: int = 0


@dataclass
class Legs:
    """Each leg's ranking: (chunk row id, score), best first. A leg not asked for is empty."""

    dense: list[tuple[int, float]] = field(default_factory=list)
    bm25: list[tuple[int, float]] = field(default_factory=list)


@dataclass
class Stored:
    """A fetched chunk with its document (the document's metadata; its text only when asked for)."""

    row: int
    chunk: Chunk
    doc: Document


class StoreError(RuntimeError):
    """A store problem; the message names the fix."""


@runtime_checkable
class Store(Protocol):
    def info(self) -> StoreInfo: ...

    def upsert(self, doc: Document, chunks: list[Chunk], vectors: np.ndarray, tokens: list[list[str]]) -> list[int]:
        """Add ``doc`` atomically; an earlier version of the same source is replaced. Returns the new row ids."""

    def delete(self, doc_ids: list[str]) -> int:
        """Remove documents and their chunks; returns how many chunks went."""

    def search(self, query_vector: np.ndarray | None, tokens: list[str] | None, n: int,
               filters: StoreFilters | None = None) -> Legs: ...

    def fetch(self, rows: list[int]) -> list[Stored]: ...

    def documents(self, filters: StoreFilters | None = None, limit: int | None = None,
                  after: str | None = None) -> list[Document]:
        """Documents in doc_id order, ``after`` a doc_id (paging), with their text."""

    def close(self) -> None: ...


def outlet_key(outlet: str | None) -> str:
    """The folded form an outlet filter matches on: «العربي» and «العربى» are one outlet."""
    return normalize_ar(outlet or "").strip().lower()
