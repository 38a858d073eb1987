"""The embedded store: SQLite (documents, chunks, term statistics, indexed filters) + segment files.

No server. SQLite gives real transactions and WAL (many readers, one writer, across
processes); outlet and date filters are indexed columns. Each upsert writes one segment:
its vectors (FAISS) and its BM25 postings (rag/store/bm25.py), appended and never
rewritten, so adding a document costs what the document costs, not what the corpus
costs. Document frequencies and lengths are exact in SQLite, so BM25 is bm25s's formula,
ranking as the generation-folder index and PostgreSQL do. Once the flat segments hold
``seal_at`` vectors, they are sealed into one HNSW part (rag/store/vectors.py), memory-mapped
when opened; below that, dense search is exact.

Layout::

    folder/isnad.sqlite3                  documents, chunks, vocabulary (df), segments, sealed, tombstones, meta
    folder/vectors/seg-000007.faiss       IndexIDMap2 of one upsert's vectors, ids = chunk row ids (until sealed)
    folder/vectors/seg-000007.bm25.npz    that upsert's postings (numpy, no pickle)
    folder/vectors/hnsw-000012.faiss      HNSW of the vectors of segments up to 12 since the previous part
    folder/vectors/hnsw-000012.rows.npy   its positions' chunk rows

Segment files are written and fsynced before the transaction that records them commits, so
a crash leaves either all or orphan files (removed on open). A deleted chunk's row is
tombstoned until compaction rewrites the segments. Readers in other processes notice a
commit (`PRAGMA data_version`) and load just the new segments and tombstones (everything
again after a seal or a compaction).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import faiss
import numpy as np

from rag.chunking import Chunk
from rag.ingest import Document
from rag.store.bm25 import Postings, Segment
from rag.store.base import Item, Legs, Store, StoreError, check_items, paged_documents_sql, StoreFilters, StoreInfo, StoreMissingError, Stored, outlet_key
from rag.store.vectors import Sealed, Vectors, rows_path

SEAL_AT = 32_768  # flat vectors before they are sealed into an HNSW part (a flat scan of these: ~9 ms)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents(doc_id TEXT PRIMARY KEY, source TEXT UNIQUE NOT NULL, outlet_key TEXT,
                                     date TEXT, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS documents_outlet ON documents(outlet_key);
CREATE INDEX IF NOT EXISTS documents_date ON documents(date);
CREATE TABLE IF NOT EXISTS segments(segment INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS chunks(row INTEGER PRIMARY KEY AUTOINCREMENT, doc_id TEXT NOT NULL, data TEXT NOT NULL,
                                  n_terms INTEGER NOT NULL, terms TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE TABLE IF NOT EXISTS tombstones(seq INTEGER PRIMARY KEY AUTOINCREMENT, row INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS vocabulary(term TEXT PRIMARY KEY, df INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sealed(upto INTEGER PRIMARY KEY);
"""
FORMAT = "2"  # 1: BM25 in FTS5 (its own idf); 2: postings segments with exact df (bm25s's formula)


class SqliteStore(Store):
    """One folder; open it from as many processes as you like, write from one at a time (SQLite's lock)."""

    def __init__(self, folder: Path, info: StoreInfo | None = None, seal_at: int = SEAL_AT):
        self.folder, self.seal_at = Path(folder), seal_at
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "vectors").mkdir(exist_ok=True)
        self._lock = threading.RLock()  # one connection shared by the app's threads
        self._columns = _Columns()
        try:
            self._db = sqlite3.connect(self.folder / "isnad.sqlite3", check_same_thread=False, isolation_level=None,
                                       timeout=60)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            self._inode = (self.folder / "isnad.sqlite3").stat().st_ino
            self._info = self._meta(info)
            self._remove_orphans()
            self._load_all()
        except StoreMissingError:
            raise
        except (sqlite3.DatabaseError, RuntimeError) as e:  # RuntimeError: FAISS could not read a segment
            raise StoreError(f"the index at {self.folder} is damaged ({str(e).splitlines()[0]}); "
                             f"`isnad doctor` rebuilds it from the documents it can still read") from None

    # ------------------------------------------------------------ metadata

    def _meta(self, info: StoreInfo | None) -> StoreInfo:
        rows = dict(self._db.execute("SELECT key, value FROM meta"))
        if not rows:
            if info is None:
                raise StoreMissingError(f"no index at {self.folder}: run `isnad ingest PATH...` first")
            with self._db:  # another process creating the same store at once: the first one's values win
                self._db.executemany("INSERT OR IGNORE INTO meta VALUES (?, ?)", [
                    ("model_id", info.model_id), ("dim", str(info.dim)), ("chunker", json.dumps(info.chunker)),
                    ("format", FORMAT), ("n_chunks", "0"), ("total_terms", "0")])
            rows = dict(self._db.execute("SELECT key, value FROM meta"))
        if rows.get("format") != FORMAT:
            raise StoreError(f"it was written by an earlier Isnad (store format {rows.get('format', '1')}, now {FORMAT})")
        return StoreInfo(rows["model_id"], int(rows["dim"]), json.loads(rows["chunker"]))

    def info(self) -> StoreInfo:
        with self._lock:  # the connection is shared by the app's threads
            n_docs, = self._db.execute("SELECT count(*) FROM documents").fetchone()
            n_chunks = self._totals()["n_chunks"]
        return StoreInfo(self._info.model_id, self._info.dim, self._info.chunker, n_docs, n_chunks)

    def _totals(self) -> dict[str, int]:
        """The chunk count and total token count each write keeps in ``meta`` (BM25's N and average length)."""
        return dict(self._db.execute("SELECT key, CAST(value AS INTEGER) FROM meta WHERE key IN ('n_chunks', 'total_terms')"))

    def replaced(self) -> bool:
        path = self.folder / "isnad.sqlite3"
        return not path.exists() or path.stat().st_ino != self._inode

    # ------------------------------------------------------------ writing

    def upsert_many(self, items: list[Item]) -> list[list[int]]:
        """Several documents in one transaction and one vector segment (an ingest of many files)."""
        check_items(items)
        with self._lock:
            with self._writing():
                sources = [d.source for d, *_ in items] + [d.doc_id for d, *_ in items]
                old = [r for r, in self._db.execute(
                    f"SELECT doc_id FROM documents WHERE source IN ({_marks(items)}) OR doc_id IN ({_marks(items)})",
                    sources)]
                gone = self._delete_rows(old)
                segment = self._db.execute("INSERT INTO segments(n) VALUES (?)",
                                           (sum(len(c) for _, c, _, _ in items),)).lastrowid
                all_rows, df = [], Counter()
                for doc, chunks, _, tokens in items:
                    self._db.execute("INSERT INTO documents VALUES (?, ?, ?, ?, ?)",
                                     (doc.doc_id, doc.source, outlet_key(doc.outlet), doc.date,
                                      json.dumps(doc.to_dict(), ensure_ascii=False)))
                    rows = []
                    for c, t in zip(chunks, tokens):
                        terms = sorted(set(t))
                        df.update(terms)
                        rows.append(self._db.execute(
                            "INSERT INTO chunks(doc_id, data, n_terms, terms) VALUES (?, ?, ?, ?)",
                            (doc.doc_id, json.dumps(c.to_dict(), ensure_ascii=False), len(t), " ".join(terms))).lastrowid)
                    all_rows.append(rows)
                self._count(df, sum(len(r) for r in all_rows), sum(len(t) for *_, ts in items for t in ts))
                ids = np.array([r for rows in all_rows for r in rows], dtype=np.int64)
                vectors = np.ascontiguousarray(np.vstack([v for _, _, v, _ in items]), dtype=np.float32) \
                    if items else np.zeros((0, self._info.dim), np.float32)
                postings = Segment.build(ids.tolist(), [t for *_, ts in items for t in ts])
                self._write_segment(segment, vectors, ids, postings)  # durable before the commit that names it
            self._forget(gone)
            self._vectors.add(vectors, ids)
            self._postings.add(postings)
            self._segments_seen = segment
            self._seen_own_writes()
            if self._vectors.flat.ntotal >= self.seal_at:
                self._seal()
            return all_rows

    def _seal(self) -> None:
        """The flat vectors into one HNSW part, written once; their flat segment files are then dropped."""
        with self._writing():  # another process may have sealed them since
            if self._vectors.flat.ntotal < self.seal_at:
                return
            rows, vectors = self._vectors.flat_rows_and_vectors()
            order = np.argsort(rows)
            upto = self._segments_seen
            self._write_sealed(upto, vectors[order], rows[order])
        self._drop_sealed_flat_files()
        self._vectors.seal(Sealed.open(self._sealed_path(upto)))
        self._sealed_upto = upto
        self._seen_own_writes()

    def _drop_sealed_flat_files(self) -> None:
        """Flat vector files of segments a sealed part now holds (also those a crash left behind)."""
        upto = self._sealed()
        for p in (self.folder / "vectors").glob("seg-*.faiss"):
            if (m := re.fullmatch(r"seg-(\d+)\.faiss", p.name)) and int(m[1]) <= upto:
                p.unlink(missing_ok=True)

    def compact(self) -> None:
        """All live vectors into one segment, tombstones cleared (after many small upserts or deletes)."""
        with self._lock:
            with self._writing():
                ids, vectors = self._vectors.all()
                old = [s for s, in self._db.execute("SELECT segment FROM segments")]
                old_sealed = [u for u, in self._db.execute("SELECT upto FROM sealed")]
                segment = self._db.execute("INSERT INTO segments(n) VALUES (?)", (len(ids),)).lastrowid
                postings = Segment.merged(self._postings.segments, self._postings.dead)
                self._durably(postings.save, self._postings_path(segment))
                self._db.execute("DELETE FROM sealed")
                if len(ids) >= self.seal_at:
                    self._write_sealed(segment, vectors, ids)
                else:
                    self._durably(lambda p: _write_flat(p, vectors, ids), self._segment_path(segment))
                self._db.execute("DELETE FROM segments WHERE segment < ?", (segment,))
                self._db.execute("DELETE FROM tombstones")
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('epoch', ?)", (str(segment),))
            for s in old:
                self._segment_path(s).unlink(missing_ok=True)
                self._postings_path(s).unlink(missing_ok=True)
            for p in (p for u in old_sealed for p in self._sealed_files(u)):
                p.unlink(missing_ok=True)
            self._load_all()

    def delete(self, doc_ids: list[str]) -> int:
        with self._lock:
            with self._writing():
                gone = self._delete_rows(list(doc_ids))
            self._forget(gone)
            self._seen_own_writes()
            return len(gone)

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """One write transaction under SQLite's write lock, after catching up with other writers' commits
        (the lock keeps them out from here on); rolled back on any error."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._refresh_locked()
            yield
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _seen_own_writes(self) -> None:
        """After our own commit: our in-memory index already holds it (another writer's commit still reloads)."""
        seq = self._db.execute("SELECT max(seq) FROM tombstones").fetchone()[0]
        self._tombstones_seen = seq or 0
        self._version = self._data_version()

    def _delete_rows(self, doc_ids: list[str]) -> list[int]:
        """Inside a transaction: the documents' chunks tombstoned and removed, their terms and rows gone."""
        if not doc_ids:
            return []
        marks = _marks(doc_ids)
        found = self._db.execute(f"SELECT row, n_terms, terms FROM chunks WHERE doc_id IN ({marks})", doc_ids).fetchall()
        rows = [r for r, _, _ in found]
        df = Counter(term for _, _, terms in found for term in terms.split())
        self._count(Counter({t: -n for t, n in df.items()}), -len(rows), -sum(n for _, n, _ in found))
        self._db.executemany("INSERT INTO tombstones(row) VALUES (?)", [(r,) for r in rows])
        self._db.execute(f"DELETE FROM chunks WHERE doc_id IN ({marks})", doc_ids)
        self._db.execute(f"DELETE FROM documents WHERE doc_id IN ({marks})", doc_ids)
        return rows

    def _count(self, df: Counter, chunks: int, terms: int) -> None:
        """Inside a write: document frequencies and corpus totals moved by ``df``, ``chunks`` and ``terms``."""
        self._db.executemany("INSERT INTO vocabulary VALUES (?, ?) ON CONFLICT(term) DO UPDATE SET df = df + excluded.df",
                             sorted(df.items()))
        self._db.execute("DELETE FROM vocabulary WHERE df <= 0")
        self._db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = 'n_chunks'", (chunks,))
        self._db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = 'total_terms'", (terms,))

    def _segment_path(self, segment: int) -> Path:
        return self.folder / "vectors" / f"seg-{segment:06d}.faiss"

    def _postings_path(self, segment: int) -> Path:
        return self.folder / "vectors" / f"seg-{segment:06d}.bm25.npz"

    def _sealed_path(self, upto: int) -> Path:
        return self.folder / "vectors" / f"hnsw-{upto:06d}.faiss"

    def _sealed_files(self, upto: int) -> tuple[Path, Path]:
        """A sealed part's graph and its rows."""
        return self._sealed_path(upto), rows_path(self._sealed_path(upto))

    def _write_segment(self, segment: int, vectors: np.ndarray, ids: np.ndarray, postings: Segment) -> None:
        self._durably(lambda p: _write_flat(p, vectors, ids), self._segment_path(segment))
        self._durably(postings.save, self._postings_path(segment))

    def _write_sealed(self, upto: int, vectors: np.ndarray, rows: np.ndarray) -> None:
        """Inside a write: the HNSW part over ``vectors``, durable, then named in ``sealed``."""
        self._durably(lambda graph, rows_file: Sealed.write(graph, rows_file, vectors, rows), *self._sealed_files(upto))
        self._db.execute("INSERT INTO sealed VALUES (?)", (upto,))

    @staticmethod
    def _durably(write, *paths: Path) -> None:
        """``write`` to a temporary name for each of ``paths``, fsynced, then each renamed into place."""
        tmps = [p.with_name(p.stem + ".tmp" + p.suffix) for p in paths]
        write(*tmps)
        for t in tmps:
            with open(t, "rb") as f:
                os.fsync(f.fileno())
        for t, p in zip(tmps[::-1], paths[::-1]):  # the first path last: a reader checks it first
            os.replace(t, p)

    def _remove_orphans(self) -> None:
        """Segment files no committed transaction names (a crash between file and commit). Under the write
        lock: a writer in another process may be writing its segment right now, before its commit."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            known = {p(s).name for s, in self._db.execute("SELECT segment FROM segments")
                     for p in (self._segment_path, self._postings_path)}
            known |= {p.name for u, in self._db.execute("SELECT upto FROM sealed") for p in self._sealed_files(u)}
            for p in (self.folder / "vectors").iterdir():
                if p.name not in known:
                    p.unlink(missing_ok=True)
            self._drop_sealed_flat_files()
        finally:
            self._db.execute("COMMIT")

    # ------------------------------------------------------------ reading

    def _data_version(self) -> int:
        return self._db.execute("PRAGMA data_version").fetchone()[0]

    def _refresh(self) -> None:
        """Load segments and tombstones committed since we last looked (by us or another process)."""
        with self._lock:
            self._refresh_locked()

    def _refresh_locked(self) -> None:
        version = self._data_version()
        if version == self._version:
            return
        epoch = self._db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()
        if (epoch[0] if epoch else None) != self._epoch or self._sealed() != self._sealed_upto:
            self._load_all()  # compacted or sealed since: vector files were replaced
            return
        for segment, in self._db.execute("SELECT segment FROM segments WHERE segment > ? ORDER BY segment",
                                         (self._segments_seen,)).fetchall():
            self._add_segment(segment)
        self._remove_tombstones()
        self._version = version

    def _remove_tombstones(self) -> None:
        dead = self._db.execute("SELECT seq, row FROM tombstones WHERE seq > ? ORDER BY seq",
                                (self._tombstones_seen,)).fetchall()
        if dead:
            self._forget([r for _, r in dead])
            self._tombstones_seen = dead[-1][0]

    def _forget(self, rows: list[int]) -> None:
        """Deleted chunks out of the in-memory vectors and postings (their segment files keep them until compaction)."""
        if rows:
            self._vectors.remove(rows)
            self._postings.remove(rows)

    def _sealed(self) -> int:
        return self._db.execute("SELECT coalesce(max(upto), 0) FROM sealed").fetchone()[0]

    def _load_all(self) -> None:
        """The in-memory index from scratch: every segment, minus the tombstones."""
        epoch = self._db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()
        self._epoch = epoch[0] if epoch else None
        self._vectors = Vectors(self._info.dim)
        self._postings = Postings()
        self._segments_seen = self._tombstones_seen = 0
        self._sealed_upto = self._sealed()
        for upto, in self._db.execute("SELECT upto FROM sealed ORDER BY upto").fetchall():
            path, rows_file = self._sealed_files(upto)
            if not path.exists() or not rows_file.exists():
                raise StoreError(f"vector file {path.name} is missing")
            try:
                self._vectors.sealed.append(Sealed.open(path))
            except (RuntimeError, OSError, ValueError) as e:  # FAISS or np.load of a damaged file
                raise StoreError(f"vector file {path.name} is unreadable ({str(e).splitlines()[0]})") from None
        for segment, in self._db.execute("SELECT segment FROM segments ORDER BY segment").fetchall():
            self._add_segment(segment)
        self._remove_tombstones()
        self._version = self._data_version()

    def _add_segment(self, segment: int) -> None:
        path, postings = self._segment_path(segment), self._postings_path(segment)
        flat = segment > self._sealed_upto  # else a sealed part holds its vectors
        for p in (path, postings) if flat else (postings,):
            if not p.exists():
                raise StoreError(f"segment file {p.name} is missing")
        part = faiss.read_index(str(path)) if flat else None
        if part is not None and part.ntotal:
            self._vectors.add(part.index.reconstruct_n(0, part.ntotal), faiss.vector_to_array(part.id_map))
        try:
            self._postings.add(Segment.load(postings))
        except (OSError, ValueError, KeyError) as e:  # np.load of a damaged file
            raise StoreError(f"segment file {postings.name} is unreadable ({e})") from None
        self._segments_seen = segment

    def search(self, query_vector: np.ndarray | None, tokens: list[str] | None, n: int,
               filters: StoreFilters | None = None) -> Legs:
        self._refresh()
        allowed = self._allowed(filters) if filters else None
        legs = Legs()
        if query_vector is not None and (allowed is None or allowed.any()):
            with self._lock:
                legs.dense = self._vectors.search(query_vector, n, allowed)
        words = [t for t in dict.fromkeys(tokens or []) if t]
        if words:
            with self._lock:
                df = dict(self._db.execute(f"SELECT term, df FROM vocabulary WHERE term IN ({_marks(words)})", words))
                totals = self._totals()
                legs.bm25 = self._postings.search(words, df, totals["n_chunks"], totals["total_terms"], n, allowed)
        return legs

    def _allowed(self, filters: StoreFilters) -> np.ndarray:
        """The rows the filters allow, as a mask by row: outlet and date compared in numpy over columns read
        from SQLite once (then only newer rows), not an SQL scan of the matching chunks per query."""
        with self._lock:
            cols = self._filter_columns()
            mask = cols.dated.copy() if filters.date_from or filters.date_to else np.ones(len(cols.date), bool)
            if filters.outlet:
                mask &= cols.outlet == cols.outlets.get(outlet_key(filters.outlet), -1)
            if filters.date_from:
                mask &= cols.date >= filters.date_from
            if filters.date_to:
                mask &= cols.date <= filters.date_to
            if filters.doc_ids is not None:
                ids = sorted(filters.doc_ids)
                rows = [r for r, in self._db.execute(f"SELECT row FROM chunks WHERE doc_id IN ({_marks(ids)})", ids)
                        if r < len(mask)]  # a row another writer added just now: not in the columns yet
                keep = np.zeros(len(mask), bool)
                keep[rows] = True
                mask &= keep
        return mask

    def _filter_columns(self) -> "_Columns":
        """Each row's outlet (as a code) and date, caught up with chunks added since (rows only grow)."""
        cols = self._columns
        new = self._db.execute("SELECT c.row, d.outlet_key, d.date FROM chunks c JOIN documents d USING(doc_id) "
                               "WHERE c.row >= ? ORDER BY c.row", (len(cols.date),)).fetchall()
        if new:
            grow, rows = new[-1][0] + 1 - len(cols.date), np.array([r for r, _, _ in new])
            dates = np.array([d or "" for _, _, d in new])
            cols.outlet = np.concatenate([cols.outlet, np.full(grow, -1, np.int32)])
            cols.outlet[rows] = [cols.outlets.setdefault(o, len(cols.outlets)) for _, o, _ in new]
            cols.date = np.concatenate([cols.date, np.zeros(grow, dtype=dates.dtype)])  # as wide as the widest
            cols.date[rows] = dates
            cols.dated = np.concatenate([cols.dated, np.zeros(grow, bool)])
            cols.dated[rows] = [d is not None for _, _, d in new]
        return cols

    def fetch(self, rows: list[int]) -> list[Stored]:
        if not rows:
            return []
        marks = _marks(rows)
        with self._lock:
            found = self._db.execute(f"SELECT c.row, c.data, d.data FROM chunks c JOIN documents d USING(doc_id) "
                                     f"WHERE c.row IN ({marks})", list(rows)).fetchall()
        by_row = {r: Stored(r, Chunk.from_dict(json.loads(c)), Document.from_dict(json.loads(d))) for r, c, d in found}
        return [by_row[r] for r in rows if r in by_row]

    def documents(self, filters: StoreFilters | None = None, limit: int | None = None,
                  after: str | None = None) -> list[Document]:
        sql, args = paged_documents_sql("documents", *(_where(filters) if filters else ("1", [])), after, limit, "?")
        with self._lock:
            return [Document.from_dict(json.loads(data)) for data, in self._db.execute(sql, args)]

    def chunk_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._db.execute("SELECT doc_id, count(*) FROM chunks GROUP BY doc_id"))

    def doc_ids_for(self, sources: list[str]) -> dict[str, str]:
        with self._lock:
            return dict(self._db.execute(f"SELECT source, doc_id FROM documents WHERE source IN ({_marks(sources)})",
                                         list(sources))) if sources else {}

    def check(self) -> list[str]:
        """What is wrong with this store ([] when sound): SQLite pages, and every chunk having exactly
        one vector."""
        problems = []
        with self._lock:
            try:
                pages = [r for r, in self._db.execute("PRAGMA integrity_check")]
                if pages != ["ok"]:
                    problems.append("database pages: " + "; ".join(pages[:3]))
            except sqlite3.DatabaseError as e:
                problems.append(f"database: {e}")
            rows = {r for r, in self._db.execute("SELECT row FROM chunks")}
        held = self._vectors.rows()
        ids = set(held.tolist())
        if rows != ids or len(ids) != len(held):
            problems.append(f"{len(rows - ids)} chunk(s) without a vector, {len(ids - rows)} vector(s) without a chunk, "
                            f"{len(held) - len(ids)} duplicate vector(s)")
        return problems

    def close(self) -> None:
        with self._lock:
            self._db.close()


def salvage_documents(folder: Path) -> list[Document]:
    """Every document still readable from a damaged store's database (nothing is written to it)."""
    try:
        db = sqlite3.connect(f"file:{Path(folder) / 'isnad.sqlite3'}?mode=ro", uri=True)
        try:
            return [Document.from_dict(json.loads(d)) for d, in db.execute("SELECT data FROM documents ORDER BY source")]
        finally:
            db.close()
    except sqlite3.DatabaseError:
        return []


class _Columns:
    """Filter columns by row (rows never change their document, so they are read once)."""

    def __init__(self):
        self.outlets: dict[str, int] = {}
        self.outlet = np.zeros(0, np.int32)
        self.date = np.zeros(0, dtype="U10")
        self.dated = np.zeros(0, bool)


def _write_flat(path: Path, vectors: np.ndarray, ids: np.ndarray) -> None:
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
    index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))
    faiss.write_index(index, str(path))


def _marks(items: list) -> str:
    return ",".join("?" * len(items))


def _where(filters: StoreFilters) -> tuple[str, list]:
    """SQL over ``documents d`` for the filters (indexed columns only)."""
    parts, args = ["1"], []
    if filters.outlet:
        parts.append("d.outlet_key = ?")
        args.append(outlet_key(filters.outlet))
    if filters.date_from:
        parts.append("d.date >= ?")
        args.append(filters.date_from)
    if filters.date_to:
        parts.append("d.date <= ?")
        args.append(filters.date_to)
    if filters.doc_ids is not None:
        ids = sorted(filters.doc_ids)
        parts.append(f"d.doc_id IN ({','.join('?' * len(ids))})" if ids else "0")
        args += ids
    return " AND ".join(parts), args
