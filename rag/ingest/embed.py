"""The last ingest step: chunk each document, embed its chunks, tokenise them for BM25, hand them to a store."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rag.config import ChunkerSettings
from rag.errors import IngestCancelled
from rag.ingest.chunking import chunk_document
from rag.models.embedder import Embedder
from rag.text.arabic import bm25_tokens
from rag.types import Chunk, Document, Item, Progress

EMBED_BATCH = 16  # chunks per progress report / cancellation check
EMBEDDING_CACHE = "embedding-cache.sqlite3"  # in the index folder while an ingest embeds


def too_long(
    docs: list[Document], embedder: Embedder, chunker: ChunkerSettings, limit: int
) -> dict[str, str]:
    """{source: why} for the documents that would make more than ``limit`` chunks, estimated from their
    token count before any is chunked or embedded (a 20 MB text is hours of embedding)."""
    out, per_chunk = {}, max(1, min(chunker.max_tokens, embedder.max_tokens))
    for doc in docs:
        slices = [doc.text[i : i + 100_000] for i in range(0, len(doc.text), 100_000)]
        # a token covers at least one byte (and each counted slice may add a few special tokens): under
        # this bound the article cannot reach the limit, and its tokens need not be counted
        if (len(doc.text.encode()) + 16 * len(slices)) // per_chunk + 1 <= limit:
            continue
        tokens = sum(embedder.count_tokens(slices))
        chunks = tokens // per_chunk + 1
        if chunks > limit:
            out[doc.source] = (
                f"too long for one article: about {chunks:,} chunks, the limit is {limit:,} "
                "(ISNAD_MAX_DOCUMENT_CHUNKS); split the file or raise the limit (nothing was added)"
            )
    return out


class EmbeddingCache:
    """Chunk vectors kept on disk while an ingest embeds, a batch at a time: an ingest that is killed
    or stopped resumes where it was, and its vectors are forgotten once the store holds them. Best
    effort: two ingests may share it, and a cache that cannot be read or written (a full disk, a
    read-only folder) is simply not used; the store's own write says what is wrong."""

    def __init__(self, path: Path, model_id: str):
        self.path, self.model_id = Path(path), model_id
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db: sqlite3.Connection | None = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors(key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
        self._mine: set[str] = set()

    @classmethod
    def open(cls, path: Path, model_id: str) -> EmbeddingCache | None:
        """The cache, or None where it cannot be opened."""
        try:
            return cls(path, model_id)
        except (OSError, sqlite3.Error):
            return None

    def key(self, title: str | None, text: str) -> str:
        return hashlib.sha256(f"{self.model_id}\n{title or ''}\n{text}".encode()).hexdigest()

    def get(self, keys: list[str]) -> dict[str, np.ndarray]:
        self._mine.update(keys)
        marks = ",".join("?" * len(keys))
        rows = self._run(
            lambda db: db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", keys).fetchall()
        )
        return {k: np.frombuffer(v, dtype=np.float32) for k, v in rows or []}

    def put(self, keys: list[str], vectors: np.ndarray) -> None:
        rows = [(k, np.ascontiguousarray(v, dtype=np.float32).tobytes()) for k, v in zip(keys, vectors)]
        self._run(lambda db: db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", rows))

    def clear(self) -> None:
        """After the store holds this ingest's vectors: they are forgotten (another ingest's stay)."""
        mine = sorted(self._mine)
        for i in range(0, len(mine), 500):
            part = mine[i : i + 500]
            self._run(
                lambda db, part=part: db.execute(
                    f"DELETE FROM vectors WHERE key IN ({','.join('?' * len(part))})", part
                )
            )
        if self._db is not None:
            self._db.close()
            self._db = None

    def _run(self, work):
        if self._db is None:
            return None
        try:
            with self._db:
                return work(self._db)
        except sqlite3.Error:  # full, read-only, locked too long: the ingest goes on without it
            self._db.close()
            self._db = None
            return None


def chunk_and_embed(
    docs: list[Document],
    embedder: Embedder,
    chunker: ChunkerSettings,
    progress: bool = False,
    on_progress: Progress | None = None,
    cancel: threading.Event | None = None,
    cache: EmbeddingCache | None = None,
) -> list[tuple[Document, list[Chunk], np.ndarray]]:
    """Each document's chunks and their vectors; raises IngestCancelled (between documents while
    chunking, between batches while embedding) when told to stop. With a ``cache``, each batch's vectors
    are kept on disk as they are made, and vectors found there are not made again."""

    def stop_if_asked() -> None:
        if cancel is not None and cancel.is_set():
            raise IngestCancelled("stopped before it finished; the index is as it was")

    settings = ChunkerSettings(min(chunker.max_tokens, embedder.max_tokens), chunker.overlap_sentences)
    per_doc = []
    for doc in tqdm(docs, desc="chunking", unit="doc", disable=not progress):
        stop_if_asked()
        per_doc.append((doc, chunk_document(doc, embedder.count_tokens, settings)))
    flat = [c for _, chunks in per_doc for c in chunks]
    titles = {d.doc_id: d.title for d in docs}
    parts = []
    for i in range(0, len(flat), EMBED_BATCH):
        stop_if_asked()
        batch = flat[i : i + EMBED_BATCH]
        parts.append(_embedded(batch, titles, embedder, cache))
        if on_progress:
            on_progress(i + len(batch), len(flat))
    vecs = np.vstack(parts) if parts else np.zeros((0, embedder.dim), np.float32)
    out, at = [], 0
    for doc, chunks in per_doc:
        out.append((doc, chunks, vecs[at : at + len(chunks)]))
        at += len(chunks)
    return out


def _embedded(
    batch: list[Chunk], titles: dict, embedder: Embedder, cache: EmbeddingCache | None
) -> np.ndarray:
    """One batch's vectors: from the cache where an earlier, stopped ingest made them, else the model's."""
    if cache is None:
        return embedder.embed_documents([c.text for c in batch], [titles[c.doc_id] for c in batch])
    keys = [cache.key(titles[c.doc_id], c.text) for c in batch]
    found = cache.get(keys)
    todo = [i for i, k in enumerate(keys) if k not in found]
    if todo:
        made = embedder.embed_documents(
            [batch[i].text for i in todo], [titles[batch[i].doc_id] for i in todo]
        )
        cache.put([keys[i] for i in todo], made)
        found.update({keys[i]: v for i, v in zip(todo, made)})
    return np.vstack([found[k] for k in keys])


def bm25_tokens_of(doc: Document, chunk: Chunk) -> list[str]:
    """What the lexical leg indexes for a chunk: its article's title and its text, Isnad's Arabic analysis."""
    return bm25_tokens((doc.title or "") + "\n" + chunk.text)


def store_items(embedded: list[tuple[Document, list[Chunk], np.ndarray]]) -> list[Item]:
    """What ``chunk_and_embed`` gives, with each chunk's BM25 tokens: what a store's upsert takes."""
    return [(d, chunks, vecs, [bm25_tokens_of(d, c) for c in chunks]) for d, chunks, vecs in embedded]
