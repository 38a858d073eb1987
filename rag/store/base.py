"""What a store is: it keeps documents, chunks, vectors and tokens, and ranks; Isnad does the rest.

Isnad keeps analysis (its own Arabic tokens, `rag.text.arabic.bm25_tokens`), fusion (`rrf` in
the Searcher) and citation. A store only stores and ranks, so an embedded engine and a
server engine answer the same calls and pass the same contract tests
(tests/test_store.py). Ids are the store's integer row ids: stable for a chunk's
lifetime, never reused, and the only thing a search returns.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from rag.errors import IndexStaleError, StoreError
from rag.text.arabic import normalize_ar
from rag.types import Chunk, Document, Filters, Item


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


@runtime_checkable
class Reader(Protocol):
    """The read side, all a Searcher needs (the current `SearchIndex` is one too)."""

    def info(self) -> StoreInfo: ...

    def search(
        self,
        query_vector: np.ndarray | None,
        tokens: list[str] | None,
        n: int,
        filters: Filters | None = None,
    ) -> Legs: ...

    def fetch(self, rows: list[int]) -> list[Stored]: ...

    def documents(
        self, filters: Filters | None = None, limit: int | None = None, after: str | None = None
    ) -> list[Document]:
        """Documents in doc_id order, ``after`` a doc_id (paging), with their text."""

    def chunk_counts(self) -> dict[str, int]:
        """Chunks per document id."""

    def doc_ids_for(self, sources: list[str]) -> dict[str, str]:
        """The indexed doc_id of each of ``sources`` that is indexed (to tell new, changed and unchanged files)."""


@runtime_checkable
class Store(Reader, Protocol):
    def upsert_many(self, items: list[Item]) -> list[list[int]]:
        """Add documents atomically (all or none); an earlier version of the same source is replaced.
        Returns each document's new row ids."""

    def upsert(
        self, doc: Document, chunks: list[Chunk], vectors: np.ndarray, tokens: list[list[str]]
    ) -> list[int]:
        return self.upsert_many([(doc, chunks, vectors, tokens)])[0]

    def delete(self, doc_ids: list[str]) -> int:
        """Remove documents and their chunks; returns how many chunks went."""

    def replaced(self) -> bool:
        """Another store now stands where this one was opened (a rebuild or repair swapped it in)."""
        return False

    def held_deleted(self) -> int:
        """Deleted chunks whose rows are still kept (skipped by every search) until ``compact()``."""
        return 0

    def compact(self) -> None:
        """Every deleted row reclaimed (``held_deleted()`` back to 0), search results unchanged."""

    def advice(self) -> list[str]:
        """What the operator could change to keep this store fast (``isnad doctor`` prints it)."""
        return []

    def close(self) -> None: ...


def best_first(pairs, k: int | None = None) -> list[tuple[int, float]]:
    """(row, score) pairs, best first, ties to the lower row: the order every engine's legs come in."""
    return sorted(((int(r), float(s)) for r, s in pairs), key=lambda x: (-x[1], x[0]))[:k]


def paged_documents_sql(
    table: str, where: str, args: list, after: str | None, limit: int | None, mark: str
) -> tuple[str, list]:
    """The documents query both SQL engines run: filters, then doc_id order from ``after``, at most ``limit``
    (``mark`` is the driver's placeholder, ? or %s)."""
    if after is not None:
        where, args = f"({where}) AND d.doc_id > {mark}", [*args, after]
    sql = f"SELECT d.data FROM {table} d WHERE {where} ORDER BY d.doc_id"
    if limit is not None:
        sql, args = f"{sql} LIMIT {mark}", [*args, limit]
    return sql, args


def check_items(items: list[Item]) -> None:
    """Every chunk has its vector and its tokens, before anything is written."""
    for doc, chunks, vectors, tokens in items:
        if len(tokens) != len(chunks) or len(vectors) != len(chunks):
            raise StoreError(
                f"{doc.source}: {len(chunks)} chunks, {len(vectors)} vectors, {len(tokens)} token lists"
            )


def outlet_key(outlet: str | None) -> str:
    """The folded form an outlet filter matches on: «العربي» and «العربى» are one outlet."""
    return normalize_ar(outlet or "").strip().lower()


def corpus_stats(reader: Reader) -> dict:
    """What `isnad info` and the app's corpus table show, from any store."""
    info, counts = reader.info(), reader.chunk_counts()
    docs = sorted(reader.documents(), key=lambda d: d.source)
    return {
        "model_id": info.model_id,
        "dim": info.dim,
        "chunker": info.chunker,
        "documents": len(docs),
        "chunks": sum(counts.values()),
        "per_document": [
            {
                "doc_id": d.doc_id,
                "title": d.title,
                "outlet": d.outlet,
                "date": d.date,
                "language": d.language,
                "source": d.source,
                "chunks": counts.get(d.doc_id, 0),
                "arrival": d.arrival(),
            }
            for d in docs
        ],
    }


class Background:
    """One thread running ``work`` whenever asked, never two at once, and again if asked while it ran (no
    request lost). Not a daemon: a command that writes and exits finishes the work rather than dropping it."""

    def __init__(self, work: Callable[[], None], name: str):
        self._work, self._name = work, name
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._asked = False

    def request(self) -> None:
        with self._lock:
            self._asked = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name)
                self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._asked:
                    self._thread = None
                    return
                self._asked = False
            self._work()

    def wait(self) -> None:
        """Until the work asked for so far is done."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join()


REBUILD_HINT = "Run `isnad ingest --rebuild PATH...` to rebuild it"


def check_compatible(
    info: StoreInfo, model_id: str, chunker: dict | None = None, fix: str = REBUILD_HINT
) -> None:
    """Raise IndexStaleError when an index (any store) was built with another model or chunker than configured."""
    problems = []
    if model_id != info.model_id:
        problems.append(f"it was built with model '{info.model_id}', the configuration asks for '{model_id}'")
    if chunker is not None and chunker != info.chunker:
        problems.append(f"it was chunked with {info.chunker}, the configuration asks for {chunker}")
    if problems:
        raise IndexStaleError(
            "the index does not match the configuration: " + "; ".join(problems) + ". " + fix
        )
