"""Persistent hybrid index: FAISS vectors + bm25s, chunks and documents as JSON. No pickle.

Layout on disk (every write makes a new generation; readers follow CURRENT)::

    index_dir/CURRENT            -> "gen-000003"
    index_dir/write.lock         one writer at a time, across processes (readers never take it)
    index_dir/gen-000003/manifest.json   model, dim, chunker, corpus hash, file checksums
                         docs.jsonl, chunks.jsonl, vectors.npy, dense.faiss, bm25/
    index_dir/gen-000002/        the previous generation, kept until the next one is complete

A crash mid-write leaves an unreferenced folder and the previous generation intact;
`repair` points a broken CURRENT back at the newest generation whose checksums hold.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import bm25s
import faiss
import numpy as np

from rag.config import ChunkerSettings
from rag.errors import IndexCorruptError, IndexMissingError, IndexProblem, IndexStaleError
from rag.ingest.embed import bm25_tokens_of, chunk_and_embed
from rag.models.embedder import Embedder, sha256_file
from rag.store.base import Legs, Stored, StoreInfo, check_compatible, corpus_stats
from rag.store.generations import (
    Manifest,
    _current_name,
    _fsync_tree,
    _gen_number,
    _point_current,
    _read_current,
    _read_jsonl,
    _write_jsonl,
)
from rag.store.lock import fix_hint
from rag.text.arabic import normalize_ar
from rag.types import Chunk, Document, Filters, Item, Progress

FORMAT_VERSION = 1
KEEP_GENERATIONS = 2  # the current one and the one before it


@dataclass
class AddReport:
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    n_chunks: int = 0


class SearchIndex:
    """Documents, chunks, their vectors and both search structures, kept consistent."""

    def __init__(self, model_id: str, dim: int, chunker: ChunkerSettings):
        self.model_id = model_id
        self.dim = dim
        self.chunker = chunker
        self.docs: dict[str, Document] = {}
        self.chunks: list[Chunk] = []
        self.vectors = np.zeros((0, dim), np.float32)
        self._faiss: faiss.Index | None = None
        self._bm25: bm25s.BM25 | None = None

    # ------------------------------------------------------------ building

    def add(
        self,
        docs: Iterable[Document],
        embedder: Embedder,
        progress: bool = False,
        on_progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> AddReport:
        """Add documents; a new version of an already indexed source replaces the old one.

        Nothing changes until every chunk is embedded, so a cancelled or failed add leaves the index as it was.
        """
        self.check_compatible(embedder.model_id, self.chunker)
        report = AddReport()
        by_source = {d.source: d.doc_id for d in self.docs.values()}
        new: list[Document] = []
        replaced: list[str] = []
        for doc in docs:
            if doc.doc_id in self.docs:
                report.unchanged.append(doc.source)
                continue
            old = by_source.get(doc.source)
            if old:
                replaced.append(old)
                report.replaced.append(doc.source)
            else:
                report.added.append(doc.source)
            new.append(doc)
        if not new:
            return report
        embedded = chunk_and_embed(new, embedder, self.chunker, progress, on_progress, cancel)
        new_chunks = [c for _, chunks, _ in embedded for c in chunks]
        vecs = np.vstack([v for _, _, v in embedded]) if new_chunks else np.zeros((0, self.dim), np.float32)
        for old in replaced:
            self._remove(old)
        for doc in new:
            self.docs[doc.doc_id] = doc
        self.chunks.extend(new_chunks)
        self.vectors = np.vstack([self.vectors, vecs]) if len(self.vectors) else vecs
        report.n_chunks = len(new_chunks)
        self._invalidate()
        return report

    def rebuilt(
        self,
        embedder: Embedder,
        chunker: ChunkerSettings,
        progress: bool = False,
        on_progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> SearchIndex:
        """A fresh index of the same documents for another model or chunker."""
        fresh = SearchIndex(embedder.model_id, embedder.dim, chunker)
        fresh.add(list(self.docs.values()), embedder, progress, on_progress, cancel)
        return fresh

    def delete(self, doc_ids: list[str]) -> int:
        """Remove documents and their chunks (as ``Store.delete``); returns how many chunks went."""
        before = len(self.chunks)
        for doc_id in doc_ids:
            if doc_id in self.docs:
                self._remove(doc_id)
        return before - len(self.chunks)

    def _remove(self, doc_id: str) -> None:
        keep = [i for i, c in enumerate(self.chunks) if c.doc_id != doc_id]
        self.chunks = [self.chunks[i] for i in keep]
        self.vectors = self.vectors[keep]
        del self.docs[doc_id]
        self._invalidate()

    def _invalidate(self) -> None:
        self._faiss = None
        self._bm25 = None

    def check_compatible(self, model_id: str, chunker: ChunkerSettings) -> None:
        check_compatible(self.info(), model_id, chunker.to_dict())

    # ------------------------------------------------------------ searching

    @property
    def dense(self) -> faiss.Index:
        if self._faiss is None:
            index = faiss.IndexFlatIP(self.dim)
            if len(self.vectors):
                index.add(self.vectors)
            self._faiss = index
        return self._faiss

    @property
    def bm25(self) -> bm25s.BM25:
        if self._bm25 is None:
            model = bm25s.BM25()
            model.index([self.bm25_tokens_of(c) or [""] for c in self.chunks] or [[""]], show_progress=False)
            self._bm25 = model
        return self._bm25

    def bm25_tokens_of(self, chunk: Chunk) -> list[str]:
        return bm25_tokens_of(self.docs[chunk.doc_id], chunk)

    def items(self) -> list[Item]:
        """Each document with its chunks, vectors and BM25 tokens: what a store's upsert takes, so an index
        moves into a store without re-embedding (migration, evaluations of each engine)."""
        positions: dict[str, list[int]] = {d: [] for d in self.docs}
        for i, c in enumerate(self.chunks):
            positions[c.doc_id].append(i)
        return [
            (
                self.docs[d],
                [self.chunks[i] for i in pos],
                self.vectors[pos],
                [self.bm25_tokens_of(self.chunks[i]) for i in pos],
            )
            for d, pos in positions.items()
        ]

    def dense_search(self, qvec: np.ndarray, k: int, mask: np.ndarray | None) -> list[tuple[int, float]]:
        if not self.chunks:
            return []
        n = len(self.chunks) if mask is not None else min(k, len(self.chunks))
        scores, ids = self.dense.search(qvec.reshape(1, -1).astype(np.float32), n)
        hits = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0 and (mask is None or mask[i])]
        return hits[:k]

    def bm25_search(self, tokens: list[str], k: int, mask: np.ndarray | None) -> list[tuple[int, float]]:
        if not self.chunks:
            return []
        vocab = self.bm25.vocab_dict
        tokens = [t for t in tokens if t in vocab]
        if not tokens:
            return []
        scores = self.bm25.get_scores(tokens)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        order = np.argsort(-scores, kind="stable")[:k]
        return [(int(i), float(scores[i])) for i in order if scores[i] > 0]

    # ------------------------------------------------------------ the Reader protocol (rag/store/base.py)

    def info(self) -> StoreInfo:
        return StoreInfo(self.model_id, self.dim, self.chunker.to_dict(), len(self.docs), len(self.chunks))

    def search(
        self,
        query_vector: np.ndarray | None,
        tokens: list[str] | None,
        n: int,
        filters: Filters | None = None,
    ) -> Legs:
        """Both legs over chunk positions (the row ids of this index)."""
        mask = (
            self.mask(filters.outlet, filters.date_from, filters.date_to, filters.doc_ids)
            if filters
            else None
        )
        return Legs(
            self.dense_search(query_vector, n, mask) if query_vector is not None else [],
            self.bm25_search(tokens, n, mask) if tokens else [],
        )

    def fetch(self, rows: list[int]) -> list[Stored]:
        return [
            Stored(i, self.chunks[i], self.docs[self.chunks[i].doc_id])
            for i in rows
            if 0 <= i < len(self.chunks)
        ]

    def documents(
        self, filters: Filters | None = None, limit: int | None = None, after: str | None = None
    ) -> list[Document]:
        docs = sorted(self.docs.values(), key=lambda d: d.doc_id)
        if filters:
            mask = self.mask(filters.outlet, filters.date_from, filters.date_to, filters.doc_ids)
            keep = {self.chunks[i].doc_id for i in np.flatnonzero(mask)}
            docs = [d for d in docs if d.doc_id in keep]
        docs = [d for d in docs if after is None or d.doc_id > after]
        return docs[:limit] if limit is not None else docs

    def doc_ids_for(self, sources: list[str]) -> dict[str, str]:
        wanted = set(sources)
        return {d.source: d.doc_id for d in self.docs.values() if d.source in wanted}

    def chunk_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for c in self.chunks:
            counts[c.doc_id] = counts.get(c.doc_id, 0) + 1
        return counts

    def mask(
        self,
        outlet: str | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
        doc_ids: frozenset[str] | None = None,
    ) -> np.ndarray | None:
        """Boolean mask over chunks for the filters; None when there are none."""
        if not (outlet or date_from or date_to or doc_ids is not None):
            return None
        want = normalize_ar(outlet).strip().lower() if outlet else None
        ok_docs = set()
        for d in self.docs.values():
            if doc_ids is not None and d.doc_id not in doc_ids:
                continue
            if want and normalize_ar(d.outlet or "").strip().lower() != want:
                continue
            if (date_from or date_to) and not d.date:
                continue
            if date_from and d.date < date_from:
                continue
            if date_to and d.date > date_to:
                continue
            ok_docs.add(d.doc_id)
        return np.array([c.doc_id in ok_docs for c in self.chunks], dtype=bool)

    def corpus_hash(self) -> str:
        return hashlib.sha256("\n".join(sorted(self.docs)).encode()).hexdigest()[:16]

    # ------------------------------------------------------------ persistence

    def save(self, index_dir: Path) -> Path:
        """Write a new generation atomically, point CURRENT at it, keep the one before.

        Callers hold `writer_lock`. Numbers follow the newest folder on disk, not CURRENT,
        so a lost pointer never makes a write collide with a generation that exists.
        """
        index_dir = Path(index_dir)
        index_dir.mkdir(parents=True, exist_ok=True)
        previous = _current_name(index_dir)
        number = max((_gen_number(p) for p in index_dir.glob("gen-*")), default=0) + 1
        name = f"gen-{number:06d}"
        tmp = index_dir / f".{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        _write_jsonl(tmp / "docs.jsonl", (d.to_dict() for d in self.docs.values()))
        _write_jsonl(tmp / "chunks.jsonl", (c.to_dict() for c in self.chunks))
        np.save(tmp / "vectors.npy", self.vectors, allow_pickle=False)
        faiss.write_index(self.dense, str(tmp / "dense.faiss"))
        self.bm25.save(str(tmp / "bm25"), allow_pickle=False)
        files = {str(p.relative_to(tmp)): sha256_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        manifest = Manifest(
            FORMAT_VERSION,
            self.model_id,
            self.dim,
            self.chunker.to_dict(),
            self.corpus_hash(),
            len(self.docs),
            len(self.chunks),
            dt.datetime.now(dt.UTC).isoformat(),
            files,
        )
        (tmp / "manifest.json").write_text(
            json.dumps(asdict(manifest), ensure_ascii=False, indent=1), encoding="utf-8"
        )
        _fsync_tree(tmp)
        os.rename(tmp, index_dir / name)
        _point_current(index_dir, name)
        keep = {name} | ({previous} if previous and (index_dir / previous).is_dir() else set())
        older = sorted((p for p in index_dir.glob("gen-*") if p.name not in keep), key=_gen_number)
        if len(keep) < KEEP_GENERATIONS and older:  # no usable previous pointer: keep the newest older one
            keep.add(older.pop().name)
        for old in [*older, *index_dir.glob(".gen-*.tmp")]:  # older generations, leftovers of crashed writes
            shutil.rmtree(old, ignore_errors=True)
        return index_dir / name

    @classmethod
    def load(cls, index_dir: Path, verify: bool = True) -> SearchIndex:
        index_dir = Path(index_dir)
        current = _read_current(index_dir)
        if current is None:
            if any(index_dir.glob("gen-*")):
                raise IndexCorruptError(f"{index_dir / 'CURRENT'} is missing; {fix_hint(index_dir)}")
            raise IndexMissingError(f"no index at {index_dir}: run `isnad ingest PATH...` first")
        return cls._load_generation(index_dir / current, verify)

    @classmethod
    def _load_generation(cls, gen: Path, verify: bool = True) -> SearchIndex:
        index_dir = gen.parent
        try:
            manifest = Manifest(**json.loads((gen / "manifest.json").read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as e:
            raise IndexCorruptError(
                f"the index manifest in {gen} is unreadable ({e}); {fix_hint(index_dir)}"
            ) from None
        if manifest.format_version != FORMAT_VERSION:
            raise IndexStaleError(
                f"the index at {index_dir} has format {manifest.format_version}, this version "
                f"reads {FORMAT_VERSION}; {fix_hint(index_dir)}"
            )
        if verify:
            for rel, digest in manifest.files.items():
                p = gen / rel
                if not p.is_file() or sha256_file(p) != digest:
                    raise IndexCorruptError(
                        f"index file {p} is missing or damaged (checksum mismatch); {fix_hint(index_dir)}"
                    )
        try:
            index = cls(manifest.model_id, manifest.dim, ChunkerSettings(**manifest.chunker))
            index.docs = {d["doc_id"]: Document.from_dict(d) for d in _read_jsonl(gen / "docs.jsonl")}
            index.chunks = [Chunk.from_dict(c) for c in _read_jsonl(gen / "chunks.jsonl")]
            index.vectors = np.load(gen / "vectors.npy", allow_pickle=False)
            index._faiss = faiss.read_index(str(gen / "dense.faiss"))
            index._bm25 = bm25s.BM25.load(str(gen / "bm25"), allow_pickle=False)
        except Exception as e:  # any parse failure means the files are not what we wrote
            raise IndexCorruptError(
                f"the index in {gen} could not be read ({type(e).__name__}: {e}); {fix_hint(index_dir)}"
            ) from None
        if (
            len(index.chunks) != manifest.n_chunks
            or index.vectors.shape != (manifest.n_chunks, manifest.dim)
            or index._faiss.ntotal != manifest.n_chunks
        ):
            raise IndexCorruptError(
                f"the index in {gen} is inconsistent (chunk and vector counts differ); {fix_hint(index_dir)}"
            )
        return index

    def stats(self) -> dict:
        return {
            **corpus_stats(self),
            "corpus_hash": self.corpus_hash(),
            "mean_chunk_tokens": round(float(np.mean([c.n_tokens for c in self.chunks])), 1)
            if self.chunks
            else 0,
        }


def load_repairing(index_dir: Path) -> tuple[SearchIndex, list[str]]:
    """Load the index; only when it is damaged, repair CURRENT first (what `repair` says is returned).

    The sound index is verified and read once, not once by the repair check and again by the load.
    """
    try:
        return SearchIndex.load(index_dir), []
    except IndexCorruptError:
        notes = repair(index_dir)
        return SearchIndex.load(index_dir), notes


def repair(index_dir: Path) -> list[str]:
    """Point a broken CURRENT at the newest generation whose checksums hold; say what was done.

    Deletes nothing. Callers hold `writer_lock`. Returns [] when the index was already sound.
    """
    index_dir = Path(index_dir)
    if not (index_dir / "CURRENT").exists() and not any(index_dir.glob("gen-*")):
        return []
    current = _current_name(index_dir)
    problem = "CURRENT is missing or damaged" if current is None else None
    if current is not None:
        try:
            SearchIndex._load_generation(index_dir / current)
            return []
        except IndexProblem as e:
            problem = f"CURRENT points at {current}, which is unusable ({e})"
    for gen in sorted(index_dir.glob("gen-*"), key=_gen_number, reverse=True):
        if gen.name == current:
            continue
        try:
            index = SearchIndex._load_generation(gen)
        except IndexProblem:
            continue
        _point_current(index_dir, gen.name)
        return [
            f"{problem}; CURRENT now points at {gen.name}, the newest intact generation "
            f"({len(index.docs)} documents, checksums verified). Nothing was deleted."
        ]
    raise IndexCorruptError(
        f"{problem}, and no generation in {index_dir} is intact. Nothing was deleted; "
        "`isnad ingest --rebuild PATH...` re-embeds the documents still readable there "
        "together with PATH"
    )


def recover_documents(index_dir: Path) -> tuple[list[Document], str | None]:
    """The documents of the newest generation whose docs.jsonl still matches its checksum.

    For `--rebuild` of an index whose vectors are lost: the articles are re-embedded, never dropped.
    """
    for gen in sorted(Path(index_dir).glob("gen-*"), key=_gen_number, reverse=True):
        try:
            files = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))["files"]
            if sha256_file(gen / "docs.jsonl") != files["docs.jsonl"]:
                continue
            return [Document.from_dict(d) for d in _read_jsonl(gen / "docs.jsonl")], gen.name
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return [], None
