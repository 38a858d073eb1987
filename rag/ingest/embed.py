"""The last ingest step: chunk each document, embed its chunks, tokenise them for BM25, hand them to a store."""

from __future__ import annotations

import threading

import numpy as np
from tqdm import tqdm

from rag.config import ChunkerSettings
from rag.errors import IngestCancelled
from rag.ingest.chunking import chunk_document
from rag.models.embedder import Embedder
from rag.text.arabic import bm25_tokens
from rag.types import Chunk, Document, Item, Progress

EMBED_BATCH = 16  # chunks per progress report / cancellation check


def chunk_and_embed(
    docs: list[Document],
    embedder: Embedder,
    chunker: ChunkerSettings,
    progress: bool = False,
    on_progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> list[tuple[Document, list[Chunk], np.ndarray]]:
    """Each document's chunks and their vectors; raises IngestCancelled (between batches) when told to stop."""
    settings = ChunkerSettings(min(chunker.max_tokens, embedder.max_tokens), chunker.overlap_sentences)
    per_doc = [
        (doc, chunk_document(doc, embedder.count_tokens, settings))
        for doc in tqdm(docs, desc="chunking", unit="doc", disable=not progress)
    ]
    flat = [c for _, chunks in per_doc for c in chunks]
    titles = {d.doc_id: d.title for d in docs}
    parts = []
    for i in range(0, len(flat), EMBED_BATCH):
        if cancel is not None and cancel.is_set():
            raise IngestCancelled("stopped before it finished; the index is as it was")
        batch = flat[i : i + EMBED_BATCH]
        parts.append(embedder.embed_documents([c.text for c in batch], [titles[c.doc_id] for c in batch]))
        if on_progress:
            on_progress(i + len(batch), len(flat))
    vecs = np.vstack(parts) if parts else np.zeros((0, embedder.dim), np.float32)
    out, at = [], 0
    for doc, chunks in per_doc:
        out.append((doc, chunks, vecs[at : at + len(chunks)]))
        at += len(chunks)
    return out


def bm25_tokens_of(doc: Document, chunk: Chunk) -> list[str]:
    """What the lexical leg indexes for a chunk: its article's title and its text, Isnad's Arabic analysis."""
    return bm25_tokens((doc.title or "") + "\n" + chunk.text)


def store_items(embedded: list[tuple[Document, list[Chunk], np.ndarray]]) -> list[Item]:
    """What ``chunk_and_embed`` gives, with each chunk's BM25 tokens: what a store's upsert takes."""
    return [(d, chunks, vecs, [bm25_tokens_of(d, c) for c in chunks]) for d, chunks, vecs in embedded]
