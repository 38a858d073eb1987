"""The embedded store: SQLite (documents, chunks, term statistics, recent vectors, indexed filters)
+ sealed part files.

No server. SQLite gives real transactions and WAL (many readers, one writer, across
processes). An upsert is one SQLite transaction: the chunks, and their vectors and tokens in
``recent``, so adding a document costs what the document costs and writes no other file.
Once ``recent`` holds ``seal_at`` chunks, they are sealed in the background into one part, written once: an
HNSW graph over their vectors (rag/store/vectors.py, memory-mapped when opened) and their
BM25 postings (rag/store/bm25.py); the recent rows are then dropped in the same
transaction that records the part. Document frequencies and lengths are exact in SQLite, so
BM25 is bm25s's formula, ranking as the generation-folder index and PostgreSQL do. Below
``seal_at`` chunks, dense search is exact.

Layout::

    folder/isnad.sqlite3                  documents, chunks, recent, vocabulary (df), parts, tombstones, meta
    folder/vectors/part-000003.faiss      HNSW over one part's vectors
    folder/vectors/part-000003.rows.npy   its positions' chunk rows
    folder/vectors/part-000003.terms.npz  its vocabulary (where each term's postings are)
    folder/vectors/part-000003.postings.npy  its postings (numpy, no pickle; memory-mapped when opened)

A part's files are written and fsynced before the transaction that records it commits, so a
crash leaves either a whole part or orphan files (removed on open). A deleted chunk's row is
tombstoned until compaction rewrites the parts. Readers in other processes notice a commit
(`PRAGMA data_version`) and load just the new recent rows and tombstones (everything again
after a seal or a compaction).
"""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from rag.errors import StoreError, StoreMissingError, storage_failure
from rag.store.base import (
    Background,
    Legs,
    Store,
    Stored,
    StoreInfo,
    check_items,
    outlet_key,
    paged_documents_sql,
)
from rag.store.bm25 import Segment
from rag.store.columns import FilterColumns
from rag.store.sqlite_parts import Parts, _immediate, _marks, _where, damaged_parts
from rag.store.vectors import Sealed
from rag.types import Chunk, Document, Filters, Item

SEAL_AT = 32_768  # flat vectors before they are sealed into an HNSW part (a flat scan of these: ~9 ms)
log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents(doc_id TEXT PRIMARY KEY, source TEXT UNIQUE NOT NULL, outlet_key TEXT,
                                     date TEXT, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS documents_outlet ON documents(outlet_key);
CREATE INDEX IF NOT EXISTS documents_date ON documents(date);
CREATE TABLE IF NOT EXISTS chunks(row INTEGER PRIMARY KEY AUTOINCREMENT, doc_id TEXT NOT NULL, data TEXT NOT NULL,
                                  n_terms INTEGER NOT NULL, terms TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE TABLE IF NOT EXISTS tombstones(seq INTEGER PRIMARY KEY AUTOINCREMENT, row INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS vocabulary(term TEXT PRIMARY KEY, df INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS recent(row INTEGER PRIMARY KEY, vector BLOB NOT NULL, tokens TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS parts(part INTEGER PRIMARY KEY AUTOINCREMENT, upto INTEGER NOT NULL);
"""
FORMAT = "3"  # the layout this module reads and writes; a store of another format is rebuilt by isnad doctor


def read_only(folder: Path) -> bool:
    """The folder exists on a read-only mount (or cannot be written by this user)."""
    import os

    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY) or not os.access(folder, os.W_OK)
    except OSError:
        return False


def _read_only_connection(path: Path) -> sqlite3.Connection:
    """The database of a read-only folder, with the commits still in its write-ahead log: read in place
    when SQLite can (no log, or a log with its shared-memory file), else from a private copy of the two."""

    def connect(uri: str) -> sqlite3.Connection:
        db = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
        db.execute("SELECT count(*) FROM meta").fetchone()
        return db

    wal = path.with_name(path.name + "-wal")
    if not wal.exists() or wal.stat().st_size == 0:
        return connect(f"file:{path}?immutable=1")
    try:
        return connect(f"file:{path}?mode=ro")
    except sqlite3.DatabaseError:
        import atexit
        import shutil
        import tempfile

        copy = Path(tempfile.mkdtemp(prefix="isnad-read-only-")) / path.name
        atexit.register(shutil.rmtree, copy.parent, ignore_errors=True)
        shutil.copyfile(path, copy)
        shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
        return connect(f"file:{copy}")


# what callers use; each turns a database or disk error into the plain IndexProblem of storage_failure
_GUARDED = (
    "info", "search", "fetch", "documents", "chunk_counts", "doc_ids_for", "upsert_many", "upsert", "delete",
    "replaced", "held_deleted", "compact", "advice", "settle", "check",
)  # fmt: skip


def _plain_errors(cls):
    """A damaged page, a full disk or a read-only folder met by any public method reads in plain words
    with its repair (``rag.errors.storage_failure``), never as a database traceback."""

    def guarded(method):
        @functools.wraps(method)
        def call(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except (sqlite3.DatabaseError, OSError) as e:
                if (plain := storage_failure(e, self.folder)) is None:
                    raise
                raise plain from e

        return call

    for name in _GUARDED:
        setattr(cls, name, guarded(getattr(cls, name)))
    return cls


@_plain_errors
class SqliteStore(Parts, Store):
    """One folder; open it from as many processes as you like, write from one at a time (SQLite's lock)."""

    def __init__(self, folder: Path, info: StoreInfo | None = None, seal_at: int = SEAL_AT):
        self.folder, self.seal_at = Path(folder), seal_at
        self.read_only = read_only(self.folder)  # a read-only folder is searched, never changed
        if not self.read_only:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / "vectors").mkdir(exist_ok=True)
        self._lock = threading.RLock()  # one connection shared by the app's threads
        self._columns = FilterColumns()
        self._opened: dict[int, tuple[Sealed, Segment]] = {}  # parts opened (and read ahead) so far
        self._sealer = Background(self._seal, "isnad-seal")
        try:
            self._db = self._connect()
            if not self.read_only:
                self._db.executescript(SCHEMA)
            self._inode = (self.folder / "isnad.sqlite3").stat().st_ino
            self._info = self._meta(info)
            if not self.read_only:
                self._remove_orphans()
            self._load_all()
        except StoreMissingError:
            raise
        except (sqlite3.DatabaseError, OSError) as e:  # the same words as every method's (_plain_errors)
            raise storage_failure(e, self.folder) or e from None
        except RuntimeError as e:  # FAISS could not read a part, or the store's own checks refused it
            raise StoreError(
                f"the index at {self.folder} is damaged ({str(e).splitlines()[0]}); "
                f"`isnad doctor` rebuilds it from the documents it can still read"
            ) from None

    def _connect(self) -> sqlite3.Connection:
        if self.read_only:
            return _read_only_connection((self.folder / "isnad.sqlite3").resolve())
        db = sqlite3.connect(
            self.folder / "isnad.sqlite3", check_same_thread=False, isolation_level=None, timeout=60
        )
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    # ------------------------------------------------------------ metadata

    def _meta(self, info: StoreInfo | None) -> StoreInfo:
        rows = dict(self._db.execute("SELECT key, value FROM meta"))
        if not rows:
            if info is None:
                raise StoreMissingError(f"no index at {self.folder}: run `isnad ingest PATH...` first")
            with self._db:  # another process creating the same store at once: the first one's values win
                self._db.executemany(
                    "INSERT OR IGNORE INTO meta VALUES (?, ?)",
                    [
                        ("model_id", info.model_id),
                        ("dim", str(info.dim)),
                        ("chunker", json.dumps(info.chunker)),
                        ("format", FORMAT),
                        ("n_chunks", "0"),
                        ("total_terms", "0"),
                    ],
                )
            rows = dict(self._db.execute("SELECT key, value FROM meta"))
        if rows.get("format") != FORMAT:
            raise StoreError(
                f"it was written by an earlier Isnad (store format {rows.get('format', '1')}, now {FORMAT})"
            )
        return StoreInfo(rows["model_id"], int(rows["dim"]), json.loads(rows["chunker"]))

    def info(self) -> StoreInfo:
        with self._lock:  # the connection is shared by the app's threads
            (n_docs,) = self._db.execute("SELECT count(*) FROM documents").fetchone()
            n_chunks = self._totals()["n_chunks"]
        return StoreInfo(self._info.model_id, self._info.dim, self._info.chunker, n_docs, n_chunks)

    def _totals(self) -> dict[str, int]:
        """The chunk count and total token count each write keeps in ``meta`` (BM25's N and average length)."""
        return dict(
            self._db.execute(
                "SELECT key, CAST(value AS INTEGER) FROM meta WHERE key IN ('n_chunks', 'total_terms')"
            )
        )

    def replaced(self) -> bool:
        path = self.folder / "isnad.sqlite3"
        return not path.exists() or path.stat().st_ino != self._inode

    # ------------------------------------------------------------ writing

    def upsert_many(self, items: list[Item]) -> list[list[int]]:
        """Several documents in one transaction (an ingest of many files); a seal started after it when due."""
        check_items(items)
        with self._lock:
            with self._writing():
                sources = [d.source for d, *_ in items] + [d.doc_id for d, *_ in items]
                old = [
                    r
                    for (r,) in self._db.execute(
                        "SELECT doc_id FROM documents "
                        f"WHERE source IN ({_marks(items)}) OR doc_id IN ({_marks(items)})",
                        sources,
                    )
                ]
                gone = self._delete_rows(old)
                all_rows, df, all_tokens = [], Counter(), [t for *_, ts in items for t in ts]
                for doc, chunks, vectors, tokens in items:
                    self._db.execute(
                        "INSERT INTO documents VALUES (?, ?, ?, ?, ?)",
                        (
                            doc.doc_id,
                            doc.source,
                            outlet_key(doc.outlet),
                            doc.date,
                            json.dumps(doc.to_dict(), ensure_ascii=False),
                        ),
                    )
                    rows = []
                    for c, v, t in zip(chunks, np.asarray(vectors, dtype=np.float32), tokens):
                        terms = sorted(set(t))
                        df.update(terms)
                        row = self._db.execute(
                            "INSERT INTO chunks(doc_id, data, n_terms, terms) VALUES (?, ?, ?, ?)",
                            (
                                doc.doc_id,
                                json.dumps(c.to_dict(), ensure_ascii=False),
                                len(t),
                                " ".join(terms),
                            ),
                        ).lastrowid
                        self._db.execute(
                            "INSERT INTO recent VALUES (?, ?, ?)",
                            (row, v.tobytes(), json.dumps(t, ensure_ascii=False)),
                        )
                        rows.append(row)
                    all_rows.append(rows)
                self._count(df, sum(len(r) for r in all_rows), sum(len(t) for t in all_tokens))
            self._forget(gone)
            ids = [r for rows in all_rows for r in rows]
            if ids:
                self._vectors.add(np.vstack([v for _, _, v, _ in items]), np.array(ids, dtype=np.int64))
                self._postings.add(Segment.build(ids, all_tokens))
                self._recent_seen = ids[-1]
            self._seen_own_writes()
            if self._vectors.flat.ntotal >= self.seal_at:
                self._sealer.request()
            return all_rows

    def settle(self) -> None:
        """Wait for a seal running in the background (close() does too)."""
        self._sealer.wait()

    def held_deleted(self) -> int:
        with self._lock:
            return self._vectors.held_dead()

    def compact(self) -> None:
        """Every live chunk into one part, tombstones cleared (after many deletes or many small parts)."""
        with self._lock:
            with self._writing():
                rows, vectors = self._vectors.all()
                old = [p for (p,) in self._db.execute("SELECT part FROM parts")]
                self._db.execute("DELETE FROM parts")
                if len(rows):
                    self._write_part(
                        vectors, rows, Segment.merged(self._postings.segments, self._postings.dead)
                    )
                self._db.execute("DELETE FROM recent")
                self._db.execute("DELETE FROM tombstones")
                self._db.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('epoch', ?)", (str(int(self._epoch or 0) + 1),)
                )
            for p in (p for part in old for p in self._part_files(part)):
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
        with _immediate(self._db):
            self._refresh_locked()
            yield

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
        found = self._db.execute(
            f"SELECT row, n_terms, terms FROM chunks WHERE doc_id IN ({marks})", doc_ids
        ).fetchall()
        rows = [r for r, _, _ in found]
        df = Counter(term for _, _, terms in found for term in terms.split())
        self._count(Counter({t: -n for t, n in df.items()}), -len(rows), -sum(n for _, n, _ in found))
        self._db.executemany("INSERT INTO tombstones(row) VALUES (?)", [(r,) for r in rows])
        self._db.executemany("DELETE FROM recent WHERE row = ?", [(r,) for r in rows])
        self._db.execute(f"DELETE FROM chunks WHERE doc_id IN ({marks})", doc_ids)
        self._db.execute(f"DELETE FROM documents WHERE doc_id IN ({marks})", doc_ids)
        return rows

    def _count(self, df: Counter, chunks: int, terms: int) -> None:
        """Inside a write: document frequencies and corpus totals moved by ``df``, ``chunks`` and ``terms``."""
        self._db.executemany(
            "INSERT INTO vocabulary VALUES (?, ?) ON CONFLICT(term) DO UPDATE SET df = df + excluded.df",
            sorted(df.items()),
        )
        self._db.execute("DELETE FROM vocabulary WHERE df <= 0")
        self._db.execute(
            "UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = 'n_chunks'", (chunks,)
        )
        self._db.execute(
            "UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = 'total_terms'", (terms,)
        )

    # ------------------------------------------------------------ reading

    def _data_version(self) -> int:
        return self._db.execute("PRAGMA data_version").fetchone()[0]

    def _refresh(self) -> None:
        """Load recent rows and tombstones committed since we last looked (by us or another process)."""
        with self._lock:
            self._refresh_locked()

    def _refresh_locked(self) -> None:
        version = self._data_version()
        if version == self._version:
            return
        if self._meta_epoch() != self._epoch or self._last_part() != self._parts_seen:
            self._load_all()  # compacted or sealed since: parts were replaced
            return
        self._load_recent()
        self._remove_tombstones()
        self._version = version

    def _remove_tombstones(self) -> None:
        dead = self._db.execute(
            "SELECT seq, row FROM tombstones WHERE seq > ? ORDER BY seq", (self._tombstones_seen,)
        ).fetchall()
        if dead:
            self._forget([r for _, r in dead])
            self._tombstones_seen = dead[-1][0]

    def _forget(self, rows: list[int]) -> None:
        """Deleted chunks out of the in-memory vectors and postings (part files keep them until compaction)."""
        if rows:
            self._vectors.remove(rows)
            self._postings.remove(rows)

    def _last_part(self, db: sqlite3.Connection | None = None) -> int:
        return (db or self._db).execute("SELECT coalesce(max(part), 0) FROM parts").fetchone()[0]

    def _meta_epoch(self, db: sqlite3.Connection | None = None) -> str | None:
        epoch = (db or self._db).execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()
        return epoch[0] if epoch else None

    def search(
        self,
        query_vector: np.ndarray | None,
        tokens: list[str] | None,
        n: int,
        filters: Filters | None = None,
    ) -> Legs:
        self._refresh()
        allowed = self._allowed(filters) if filters else None
        legs = Legs()
        if query_vector is not None and (allowed is None or allowed.any()):
            with self._lock:
                legs.dense = self._vectors.search(query_vector, n, allowed)
        words = [t for t in dict.fromkeys(tokens or []) if t]
        if words:
            with self._lock:
                df = dict(
                    self._db.execute(
                        f"SELECT term, df FROM vocabulary WHERE term IN ({_marks(words)})", words
                    )
                )
                totals = self._totals()
                legs.bm25 = self._postings.search(
                    words, df, totals["n_chunks"], totals["total_terms"], n, allowed
                )
        return legs

    def _allowed(self, filters: Filters) -> np.ndarray:
        """The rows the filters allow, as a mask by row: outlet and date compared in numpy over columns read
        from SQLite once (then only newer rows), not an SQL scan of the matching chunks per query."""
        with self._lock:
            cols = self._columns
            cols.catch_up(
                self._db.execute(
                    "SELECT c.row, d.outlet_key, d.date FROM chunks c JOIN documents d "
                    "USING(doc_id) WHERE c.row >= ? ORDER BY c.row",
                    (len(cols),),
                ).fetchall()
            )
            doc_rows = None
            if filters.doc_ids is not None:
                ids = sorted(filters.doc_ids)
                doc_rows = [
                    r
                    for (r,) in self._db.execute(
                        f"SELECT row FROM chunks WHERE doc_id IN ({_marks(ids)})", ids
                    )
                ]
            return cols.mask(filters, doc_rows)

    def fetch(self, rows: list[int]) -> list[Stored]:
        if not rows:
            return []
        marks = _marks(rows)
        with self._lock:
            found = self._db.execute(
                f"SELECT c.row, c.data, d.data FROM chunks c JOIN documents d USING(doc_id) "
                f"WHERE c.row IN ({marks})",
                list(rows),
            ).fetchall()
        by_row = {
            r: Stored(r, Chunk.from_dict(json.loads(c)), Document.from_dict(json.loads(d)))
            for r, c, d in found
        }
        return [by_row[r] for r in rows if r in by_row]

    def documents(
        self, filters: Filters | None = None, limit: int | None = None, after: str | None = None
    ) -> list[Document]:
        sql, args = paged_documents_sql(
            "documents", *(_where(filters) if filters else ("1", [])), after, limit, "?"
        )
        with self._lock:
            return [Document.from_dict(json.loads(data)) for (data,) in self._db.execute(sql, args)]

    def chunk_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._db.execute("SELECT doc_id, count(*) FROM chunks GROUP BY doc_id"))

    def doc_ids_for(self, sources: list[str]) -> dict[str, str]:
        with self._lock:
            return (
                dict(
                    self._db.execute(
                        f"SELECT source, doc_id FROM documents WHERE source IN ({_marks(sources)})",
                        list(sources),
                    )
                )
                if sources
                else {}
            )

    def check(self) -> list[str]:
        """What is wrong with this store ([] when sound): SQLite pages, every part file against the
        checksum written with it, and every chunk having exactly one vector."""
        problems = []
        with self._lock:
            try:
                pages = [r for (r,) in self._db.execute("PRAGMA integrity_check")]
                if pages != ["ok"]:
                    problems.append("database pages: " + "; ".join(pages[:3]))
            except sqlite3.DatabaseError as e:
                problems.append(f"database: {e}")
            rows = {r for (r,) in self._db.execute("SELECT row FROM chunks")}
            parts = [p for (p,) in self._db.execute("SELECT part FROM parts ORDER BY part")]
        for part in parts:
            problems += damaged_parts(self._part_files(part))
        held = self._vectors.rows()
        ids = set(held.tolist())
        if rows != ids or len(ids) != len(held):
            problems.append(
                f"{len(rows - ids)} chunk(s) without a vector, {len(ids - rows)} vector(s) without a chunk, "
                f"{len(held) - len(ids)} duplicate vector(s)"
            )
        return problems

    def close(self) -> None:
        self.settle()
        with self._lock:
            self._db.close()
