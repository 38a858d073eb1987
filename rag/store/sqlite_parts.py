"""The SQLite store's vector and posting parts on disk: writing them durably, loading them, removing orphans."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.errors import StoreError
from rag.store.base import outlet_key
from rag.store.bm25 import Postings, Segment
from rag.store.vectors import Sealed, Vectors, prefetch, rows_path
from rag.types import Document, Filters

log = logging.getLogger(__name__)


class Parts:
    """Sealed parts and recent rows, as methods of `SqliteStore` (which mixes this in)."""

    def _seal(self) -> None:
        """In the background: the recent rows into one part (HNSW vectors and postings), written once, then
        recorded and ``recent`` emptied of them in one short transaction; then the part loaded here. Building
        a part's graph takes seconds, so it runs outside SQLite's write lock, on
        a connection of its own (as another process would), so uploads and queries go on meanwhile. If
        another process sealed or compacted first, this part is thrown away; a failed seal leaves
        ``recent`` as it was, and the next upload tries again."""
        db, pending = self._connect(), self._part_files(f"pending-{uuid.uuid4().hex}")
        try:
            db.execute("BEGIN")  # one read snapshot
            seen = self._last_part(db), self._meta_epoch(db)
            found = db.execute("SELECT row, vector, tokens FROM recent ORDER BY row").fetchall()
            db.execute("COMMIT")
            if len(found) < self.seal_at:
                return
            rows, vectors, tokens = self._decode_recent(found)
            self._write_files(pending, vectors, rows, Segment.build(rows.tolist(), tokens))
            with _immediate(db):
                if (self._last_part(db), self._meta_epoch(db)) == seen:  # nobody sealed these rows since
                    part = db.execute("INSERT INTO parts(upto) VALUES (?)", (int(rows[-1]),)).lastrowid
                    # the graph last: read first
                    for p, q in list(zip(pending, self._part_files(part)))[::-1]:
                        os.replace(p, q)
                    # rows deleted since: tombstoned
                    db.execute("DELETE FROM recent WHERE row <= ?", (int(rows[-1]),))
            with self._lock:  # this connection's data_version may already count the commit (our own upload's)
                if self._last_part() != self._parts_seen:
                    self._load_all()
        except Exception:
            log.exception("sealing the recent rows of %s failed; the next upload tries again", self.folder)
        finally:
            for p in pending:
                p.unlink(missing_ok=True)
            db.close()

    def _part_files(self, part: int | str) -> tuple[Path, Path, Path, Path, Path]:
        """A part's graph, its rows, its vocabulary, its postings and the checksums of those four (``part``:
        its number, or a name while pending)."""
        graph = (
            self.folder / "vectors" / (f"part-{part:06d}.faiss" if isinstance(part, int) else f"{part}.faiss")
        )
        return (
            graph,
            rows_path(graph),
            graph.with_suffix(".terms.npz"),
            graph.with_suffix(".postings.npy"),
            graph.with_suffix(".sums.json"),
        )

    def _write_part(self, vectors: np.ndarray, rows: np.ndarray, postings: Segment) -> int:
        """Inside a write: a part over ``rows`` (ascending), its files durable, then recorded in ``parts``."""
        part = self._db.execute("INSERT INTO parts(upto) VALUES (?)", (int(rows.max()),)).lastrowid
        self._write_files(self._part_files(part), vectors, rows, postings)
        return part

    def _write_files(
        self, files: tuple[Path, ...], vectors: np.ndarray, rows: np.ndarray, postings: Segment
    ) -> None:
        def write(graph: Path, rows_file: Path, terms_file: Path, postings_file: Path) -> None:
            Sealed.write(graph, rows_file, vectors, rows)
            postings.save(terms_file, postings_file)

        *data, sums = files
        self._durably(write, *data)
        self._durably(lambda path: path.write_text(json.dumps(checksums(data))), sums)

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
        """Part files no committed transaction names (a crash between files and commit). Under the write
        lock: a writer in another process may be writing a part right now, before its commit."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            known = {
                p.name
                for (part,) in self._db.execute("SELECT part FROM parts")
                for p in self._part_files(part)
            }
            for p in (self.folder / "vectors").iterdir():
                if p.name not in known:
                    p.unlink(missing_ok=True)
        finally:
            self._db.execute("COMMIT")

    def _load_all(self) -> None:
        """The in-memory index from scratch: every part, the recent rows, minus the tombstones. Parts opened
        before are reused (part numbers are never reused), so a reload after a seal opens and reads ahead only
        the new part, and queries wait milliseconds for it, not the second that opening every part takes."""
        self._epoch, self._parts_seen = self._meta_epoch(), self._last_part()
        self._vectors = Vectors(self._info.dim)
        self._postings = Postings()
        self._recent_seen = self._tombstones_seen = 0
        opened, warm = {}, []
        for part, upto in self._db.execute("SELECT part, upto FROM parts ORDER BY part").fetchall():
            if part not in self._opened:
                files = self._part_files(part)
                if missing := [p.name for p in files[:4] if not p.exists()]:
                    raise StoreError(f"vector file {missing[0]} is missing")
                if wrong := damaged_parts(files, sizes_only=True):  # the full checksums are doctor's
                    raise StoreError(wrong[0])
                try:
                    self._opened[part] = Sealed.open(files[0]), Segment.load(files[2], files[3])
                except (
                    RuntimeError,
                    OSError,
                    ValueError,
                    KeyError,
                ) as e:  # FAISS or np.load of a damaged file
                    raise StoreError(
                        f"vector file {files[0].name} is unreadable ({str(e).splitlines()[0]})"
                    ) from None
                warm += [files[0], files[3]]  # graph and postings
            opened[part] = self._opened[part]
            self._vectors.sealed.append(opened[part][0])
            self._postings.parts.append(opened[part][1])
            self._recent_seen = max(self._recent_seen, upto)
        self._opened = opened
        prefetch(warm)
        self._load_recent()
        self._remove_tombstones()
        self._version = self._data_version()

    def _load_recent(self) -> None:
        """Rows written since we last looked (rows only grow: one writer at a time allocates them)."""
        found = self._db.execute(
            "SELECT row, vector, tokens FROM recent WHERE row > ? ORDER BY row", (self._recent_seen,)
        ).fetchall()
        if not found:
            return
        rows, vectors, tokens = self._decode_recent(found)
        self._vectors.add(vectors, rows)
        self._postings.add(Segment.build(rows.tolist(), tokens))
        self._recent_seen = int(rows[-1])

    def _decode_recent(self, found: list[tuple]) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
        """Rows of ``recent`` (ascending) as rows, vectors and tokens."""
        if damaged := [r for r, v, _ in found if len(v) != 4 * self._info.dim]:
            raise StoreError(f"the vectors of {len(damaged)} recent chunk(s) are damaged (row {damaged[0]})")
        rows = np.array([r for r, _, _ in found], dtype=np.int64)
        vectors = np.frombuffer(b"".join(v for _, v, _ in found), dtype=np.float32).reshape(len(found), -1)
        return rows, vectors, [json.loads(t) for _, _, t in found]


@contextmanager
def _immediate(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction on ``db`` under SQLite's write lock; rolled back on any error."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        # after a full disk SQLite has rolled back already: the first error is the one to tell
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _marks(items: list) -> str:
    return ",".join("?" * len(items))


def _where(filters: Filters) -> tuple[str, list]:
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


def checksums(paths: list[Path]) -> list[list[int]]:
    """Each file's size and CRC-32, in order (graph, rows, vocabulary, postings): written beside a part
    under any name it has while pending, checked by doctor under its final name."""
    out = []
    for path in paths:
        crc = 0
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                crc = zlib.crc32(block, crc)
        out.append([path.stat().st_size, crc])
    return out


def damaged_parts(files: tuple[Path, ...], sizes_only: bool = False) -> list[str]:
    """The files of one part that differ from the checksums written with them ([] when they match, or for
    a part written before checksums were kept). ``sizes_only``: compare sizes, as every open does."""
    *data, sums = files
    if not sums.exists():
        return []
    try:
        want = json.loads(sums.read_text())
    except ValueError:
        want = None
    if not isinstance(want, list) or len(want) != len(data):
        return [f"the checksums of {data[0].name} are unreadable"]
    out = []
    for path, (size, crc) in zip(data, want):
        if not path.exists() or path.stat().st_size != size:
            out.append(f"vector file {path.name} has the wrong size (damaged or cut short)")
        elif not sizes_only and checksums([path])[0][1] != crc:
            out.append(f"vector file {path.name} does not match its checksum (damaged)")
    return out


@dataclass
class Salvage:
    """What a damaged store still tells: its readable documents, the ids of every document it held, and
    the source paths its index of sources still lists (to read the originals of the lost ones again)."""

    documents: list[Document]
    held: set[str]
    sources: set[str]


def salvage_documents(folder: Path) -> Salvage:
    """What is still readable from a damaged store's database. Rows are read one by one when the table
    cannot be read whole, so a damaged page costs the rows on it, not the table. Nothing is written."""
    try:
        db = sqlite3.connect(f"file:{Path(folder) / 'isnad.sqlite3'}?mode=ro", uri=True)
    except sqlite3.DatabaseError:
        return Salvage([], set(), set())

    def read(sql: str, *args) -> list | None:
        try:
            return db.execute(sql, args).fetchall()
        except sqlite3.DatabaseError:
            return None

    try:
        rows = read("SELECT data FROM documents")
        if rows is None:  # row by row, as far as the highest row any index or the table itself names
            top = read("SELECT max(rowid) FROM documents") or [(None,)]
            counted = read("SELECT count(DISTINCT doc_id) FROM chunks") or [(0,)]
            bound = max(top[0][0] or 0, 4 * (counted[0][0] or 0) + 64)
            rows = [r[0] for rowid in range(1, bound + 1) if (r := read(_ONE_DOCUMENT, rowid))]
        docs = []
        for (data,) in rows:
            try:
                docs.append(Document.from_dict(json.loads(data)))
            except (ValueError, TypeError, KeyError):
                continue  # a row whose text was damaged is lost, not the rest
        held = set()
        for sql in ("SELECT doc_id FROM documents", "SELECT DISTINCT doc_id FROM chunks"):
            held |= {d for (d,) in read(sql) or []}
        sources = {
            s for (s,) in read("SELECT source FROM documents INDEXED BY sqlite_autoindex_documents_2") or []
        }
        return Salvage(sorted(docs, key=lambda d: d.source), held | {d.doc_id for d in docs}, sources)
    finally:
        db.close()


_ONE_DOCUMENT = "SELECT data FROM documents WHERE rowid = ?"
