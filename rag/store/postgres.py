"""The server store: PostgreSQL + pgvector, selected with ``ISNAD_STORE=postgresql://…``.

One table of chunks with their vectors under HNSW (``hnsw.iterative_scan`` keeps filtered
searches full), outlet and date copied onto each chunk as indexed columns. New rows stay
outside the graph, searched exactly, until a background thread adds them a batch at a time:
inserting into a graph of a million rows costs about 0.1 s a row on a small server, which an
upload should not wait for. The lexical
leg as real BM25 (PostgreSQL's ``ts_rank`` is not BM25 and is not used), over the same
postings layout as the embedded store: recent writes as rows ``(term, row, tf)``, sealed
every 250,000 postings into segments that keep each term's postings packed in one ``bytea``;
ten segments of a size are merged into one of the next, dropping deleted rows (sealing and
merging run in the same background thread).
A query reads its terms' packed postings, and the dense leg's rows, in one round trip and one
snapshot, and scores them with rag/store/bm25.py (MaxScore included): summing millions of
postings is milliseconds in numpy and about a second in SQL's GROUP BY. Document
frequencies and corpus statistics stay exact in the same transaction as every write.
Writers serialise on a transaction-level advisory lock; readers never wait (MVCC), except
for the one transaction that fills an empty database in bulk.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import Iterator

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg.types.json import Jsonb, set_json_dumps

from rag.chunking import Chunk
from rag.ingest import Document
from rag.store.bm25 import mergeable, Postings, Segment
from rag.store.columns import FilterColumns
from rag.store.base import Background, best_first, Item, Legs, Store, StoreError, check_items, paged_documents_sql, StoreFilters, StoreInfo, StoreMissingError, Stored, outlet_key

WRITER_LOCK = 0x15A4D  # pg_advisory_xact_lock key: one writer at a time
SCHEMA = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE IF NOT EXISTS isnad_meta(key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS isnad_documents(doc_id text PRIMARY KEY, source text UNIQUE NOT NULL, outlet_key text,
                                           date text, data jsonb NOT NULL);
CREATE INDEX IF NOT EXISTS isnad_documents_outlet ON isnad_documents(outlet_key);
CREATE INDEX IF NOT EXISTS isnad_documents_date ON isnad_documents(date);
CREATE TABLE IF NOT EXISTS isnad_chunks(row bigserial PRIMARY KEY,
    doc_id text NOT NULL REFERENCES isnad_documents(doc_id) ON DELETE CASCADE,
    outlet_key text, date text, n_terms int NOT NULL, data jsonb NOT NULL, embedding vector({dim}) NOT NULL);
CREATE INDEX IF NOT EXISTS isnad_chunks_doc ON isnad_chunks(doc_id);
CREATE INDEX IF NOT EXISTS isnad_chunks_outlet ON isnad_chunks(outlet_key);
CREATE INDEX IF NOT EXISTS isnad_chunks_date ON isnad_chunks(date);
CREATE TABLE IF NOT EXISTS isnad_postings(term text NOT NULL, row bigint NOT NULL REFERENCES isnad_chunks(row) ON DELETE CASCADE,
    tf int NOT NULL, n_terms int NOT NULL, PRIMARY KEY (term, row) INCLUDE (tf, n_terms));
CREATE INDEX IF NOT EXISTS isnad_postings_row ON isnad_postings(row);
CREATE TABLE IF NOT EXISTS isnad_terms(term text PRIMARY KEY, df int NOT NULL);
CREATE TABLE IF NOT EXISTS isnad_stats(id int PRIMARY KEY, n_chunks bigint NOT NULL, total_terms bigint NOT NULL);
INSERT INTO isnad_stats VALUES (1, 0, 0) ON CONFLICT DO NOTHING;
""" + """
CREATE TABLE IF NOT EXISTS isnad_chunk_terms(row bigint PRIMARY KEY REFERENCES isnad_chunks(row) ON DELETE CASCADE,
    terms text[] NOT NULL);
CREATE TABLE IF NOT EXISTS isnad_segments(term text NOT NULL, seg int NOT NULL, base bigint NOT NULL,
    rows bytea NOT NULL, tf bytea NOT NULL, dl bytea NOT NULL, PRIMARY KEY (term, seg));
ALTER TABLE isnad_segments ALTER rows SET STORAGE EXTERNAL, ALTER tf SET STORAGE EXTERNAL, ALTER dl SET STORAGE EXTERNAL;
CREATE TABLE IF NOT EXISTS isnad_dead(row bigint PRIMARY KEY);
ALTER TABLE isnad_stats ADD COLUMN IF NOT EXISTS segments int NOT NULL DEFAULT 0,
                        ADD COLUMN IF NOT EXISTS unsealed bigint NOT NULL DEFAULT 0;
""" + """
ALTER TABLE isnad_chunks ADD COLUMN IF NOT EXISTS graphed boolean NOT NULL DEFAULT true;
ALTER TABLE isnad_chunks ALTER graphed SET DEFAULT false;
CREATE INDEX IF NOT EXISTS isnad_chunks_ungraphed ON isnad_chunks(row) WHERE NOT graphed;
"""  # sealed segments and rows outside the graph: applied once to a database written without them
SEGMENTS = SCHEMA[SCHEMA.index("CREATE TABLE IF NOT EXISTS isnad_chunk_terms"):SCHEMA.index("ALTER TABLE isnad_chunks")]
GRAPHED = SCHEMA[SCHEMA.index("ALTER TABLE isnad_chunks"):]
HNSW_M, HNSW_EF_CONSTRUCTION = 32, 128  # denser than pgvector's 16, 64: recall@10 1.0 at 1M (docs/stores.md)
# the graph holds the rows marked graphed: new rows are searched exactly until a background batch adds them
HNSW = "CREATE INDEX {} isnad_chunks_hnsw ON isnad_chunks USING hnsw (embedding vector_ip_ops) " \
       f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION}) WHERE graphed"
DEAD_ROWS = "SELECT string_agg(int8send(row), '') FROM isnad_dead"  # every dead row, packed (``_rows`` reads it)
# a term's postings, whether recent rows or a sealed segment: rows ascending, each field packed
PACKED = "string_agg(int8send(row), '' ORDER BY row), string_agg(int4send(tf), '' ORDER BY row), " \
         "string_agg(int4send(n_terms), '' ORDER BY row)"
BULK_AT = 20_000  # chunks into an empty database: the HNSW graph built once after the rows
SEAL_AT = 250_000  # recent postings sealed into a segment (about 4,000 chunks of Arabic news; ~1 s)
GRAPH_AT = 1_000  # rows outside the graph (searched exactly: a few ms) before a background batch adds them
GRAPH_BATCH = 100  # rows added to the graph per transaction
log = logging.getLogger(__name__)
MAX_BUILD_MB = 8192  # the most memory a bulk build asks of the server (maintenance_work_mem)


class PostgresStore(Store):
    """Chunks, vectors and postings in one PostgreSQL database; any number of app servers may share it."""

    def __init__(self, url: str, info: StoreInfo | None = None, ef_search: int = 200, bulk_at: int = BULK_AT,
                 seal_at: int = SEAL_AT, graph_at: int = GRAPH_AT):
        self._url = url
        try:
            self._db = self._connect()
        except psycopg.Error as e:
            raise StoreError(f"cannot reach PostgreSQL ({str(e).strip().splitlines()[0]}); check ISNAD_STORE") from None
        self._lock, self._bulk_at, self._seal_at, self._graph_at = threading.RLock(), bulk_at, seal_at, graph_at
        self._maintainer = Background(self._maintain, "isnad-maintain")
        self._columns = FilterColumns()  # each row's outlet and date, for the BM25 leg's filters
        self._db.execute(f"SET hnsw.ef_search = {int(ef_search)}")
        self._db.execute("SET hnsw.iterative_scan = relaxed_order")  # a filter never empties the result
        self._lexical_db: psycopg.Connection | None = None  # the BM25 leg's, opened on the first hybrid search
        self._lexical_leg = ThreadPoolExecutor(1, "isnad-bm25")
        self._info = self._meta(info)
        register_vector(self._db)  # vectors travel in pgvector's binary form, not as text (once the type exists)
        set_json_dumps(partial(json.dumps, ensure_ascii=False), self._db)  # Arabic as itself, not \uXXXX

    def _connect(self) -> psycopg.Connection:
        """Never prepared: a generic plan ignores a filter's values (filtered dense queries 10-30x slower)."""
        db = psycopg.connect(self._url, autocommit=True, prepare_threshold=None)
        db.execute("SET jit = off")  # compiling a query's expressions cost more (~50 ms) than they save here
        return db

    def _meta(self, info: StoreInfo | None) -> StoreInfo:
        with _writing(self._db) as cur:
            exists = cur.execute("SELECT to_regclass('isnad_meta') IS NOT NULL").fetchone()[0]
            rows = dict(cur.execute("SELECT key, value FROM isnad_meta").fetchall()) if exists else {}
            if not rows:
                if info is None:
                    raise StoreMissingError("no Isnad index in this database: run `isnad ingest PATH...` first")
                cur.execute(SCHEMA.format(dim=int(info.dim)))
                cur.execute(HNSW.format("IF NOT EXISTS"))
                cur.executemany("INSERT INTO isnad_meta VALUES (%s, %s)", [
                    ("model_id", info.model_id), ("dim", str(info.dim)), ("chunker", json.dumps(info.chunker))])
                return StoreInfo(info.model_id, info.dim, info.chunker)
            if cur.execute("SELECT to_regclass('isnad_segments') IS NULL").fetchone()[0]:
                self._upgrade(cur)
            if cur.execute("SELECT to_regclass('isnad_chunks_ungraphed') IS NULL").fetchone()[0]:
                cur.execute(GRAPHED)  # rows of an earlier database are in its graph (a graph over every row)
        return StoreInfo(rows["model_id"], int(rows["dim"]), json.loads(rows["chunker"]))

    def _upgrade(self, cur) -> None:
        """A database written before sealed segments: each chunk's terms gathered from its postings (deleting it
        needs them once its postings are sealed), in their own table (rewriting the chunk rows would insert
        each into the HNSW graph again), then every posting sealed. Once, on the first open."""
        cur.execute(SEGMENTS)
        cur.execute("INSERT INTO isnad_chunk_terms SELECT row, array_agg(term) FROM isnad_postings GROUP BY row")
        self._seal(cur)
        self._merge_due(cur)

    def info(self) -> StoreInfo:
        with self._lock:
            n_docs = self._db.execute("SELECT count(*) FROM isnad_documents").fetchone()[0]
            n_chunks = self._db.execute("SELECT n_chunks FROM isnad_stats").fetchone()[0]
        return StoreInfo(self._info.model_id, self._info.dim, self._info.chunker, n_docs, n_chunks)

    # ------------------------------------------------------------ writing

    def upsert_many(self, items: list[Item]) -> list[list[int]]:
        """Documents, chunks, postings, document frequencies and statistics in one transaction.

        Postings go to the recent rows and vectors stay outside the HNSW graph (searched exactly), so an
        upload costs what the document costs; a background thread (``_maintain``) seals the postings once
        SEAL_AT gather and adds the rows to the graph once GRAPH_AT wait. A write that brings SEAL_AT
        postings itself becomes a segment directly. Filling an empty database with at least BULK_AT
        chunks (a first ingest, a migration) builds the HNSW graph once, after the rows, in the same
        transaction: inserting into it row by row made 100k chunks take 8.5 minutes. Readers wait for
        that transaction, as they would see nothing before it anyway."""
        check_items(items)
        with self._lock, _writing(self._db) as cur:
            old = [r for r, in cur.execute("SELECT doc_id FROM isnad_documents WHERE source = ANY(%s) OR doc_id = ANY(%s)",
                                           ([d.source for d, *_ in items], [d.doc_id for d, *_ in items]))]
            self._delete(cur, old)
            n_new = sum(len(chunks) for _, chunks, _, _ in items)
            bulk = n_new >= self._bulk_at and cur.execute("SELECT n_chunks = 0 FROM isnad_stats").fetchone()[0]
            if bulk:
                cur.execute("DROP INDEX isnad_chunks_hnsw")
            ids = iter(r for r, in cur.execute("SELECT nextval('isnad_chunks_row_seq') FROM generate_series(1, %s)",
                                                (n_new,)).fetchall())
            out = [[next(ids) for _ in chunks] for _, chunks, _, _ in items]
            rows = [r for rs in out for r in rs]
            tokens = [t for _, _, _, ts in items for t in ts]
            counts = [Counter(t) for t in tokens]
            with cur.copy("COPY isnad_documents (doc_id, source, outlet_key, date, data) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["text", "text", "text", "text", "jsonb"])
                for doc, *_ in items:
                    copy.write_row((doc.doc_id, doc.source, outlet_key(doc.outlet), doc.date, Jsonb(doc.to_dict())))
            with cur.copy("COPY isnad_chunks (row, doc_id, outlet_key, date, n_terms, data, embedding, graphed) "
                          "FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int8", "text", "text", "text", "int4", "jsonb", "vector", "bool"])
                for rs, (doc, chunks, vectors, ts) in zip(out, items):
                    key = outlet_key(doc.outlet)
                    for r, c, v, t in zip(rs, chunks, vectors, ts):
                        copy.write_row((r, doc.doc_id, key, doc.date, len(t), Jsonb(c.to_dict()),
                                        np.asarray(v, dtype=np.float32), bulk))
            with cur.copy("COPY isnad_chunk_terms (row, terms) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int8", "text[]"])
                for row, c in zip(rows, counts):
                    copy.write_row((row, list(c)))
            n_postings = sum(len(c) for c in counts)
            due = False
            if n_postings >= self._seal_at:
                self._write_segment(cur, Segment.build(rows, tokens))
                due = True  # segments to merge, perhaps
            else:
                with cur.copy("COPY isnad_postings (term, row, tf, n_terms) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(["text", "int8", "int4", "int4"])
                    for row, t, c in zip(rows, tokens, counts):
                        for term, tf in c.items():
                            copy.write_row((term, row, tf, len(t)))
                unsealed = cur.execute("UPDATE isnad_stats SET unsealed = unsealed + %s RETURNING unsealed",
                                       (n_postings,)).fetchone()[0]
                due = unsealed >= self._seal_at
            df = Counter(term for c in counts for term in c)
            terms = sorted(df)
            cur.execute("INSERT INTO isnad_terms SELECT * FROM unnest(%s::text[], %s::int[]) ON CONFLICT (term) "
                        "DO UPDATE SET df = isnad_terms.df + EXCLUDED.df", (terms, [df[t] for t in terms]))
            cur.execute("UPDATE isnad_stats SET n_chunks = n_chunks + %s, total_terms = total_terms + %s",
                        (n_new, sum(len(t) for t in tokens)))
            if bulk:  # the graph is built in memory when it fits (pgvector), else page by page, far slower
                need = n_new * (self._info.dim * 4 + 25 * HNSW_M) * 1.3 / 2**20  # a vector and its neighbours
                cur.execute(f"SET LOCAL maintenance_work_mem = '{int(min(max(need, 64), MAX_BUILD_MB))}MB'")
                cur.execute(HNSW.format(""))
                cur.execute("ANALYZE isnad_chunks, isnad_segments, isnad_terms")
            else:
                due = due or cur.execute("SELECT count(*) >= %s FROM isnad_chunks WHERE NOT graphed",
                                         (self._graph_at,)).fetchone()[0]
        if bulk:  # now, not by autovacuum while the first queries run (a million rows' visibility and hint bits)
            with self._lock:
                self._db.execute("VACUUM isnad_chunks, isnad_segments")
        if due:
            self._maintainer.request()
        return out

    def _maintain(self) -> None:
        """In the background, on a connection of its own, while uploads and queries go on: recent postings
        sealed and segments merged when due (one transaction under the writers' lock, which uploads wait
        for), then the rows outside the graph added to it GRAPH_BATCH at a time, each batch its own
        transaction. Inserting a row into a graph of a million reads it page by page: about 0.1 s a row
        when the graph is not in shared buffers, paid here rather than by the upload. A failure leaves
        everything as it was, searchable; the next upload that finds work due tries again."""
        try:
            with self._connect() as db:
                with _writing(db) as cur:
                    if cur.execute("SELECT unsealed FROM isnad_stats").fetchone()[0] >= self._seal_at:
                        self._seal(cur)
                    self._merge_due(cur)
                while db.execute("UPDATE isnad_chunks SET graphed = true WHERE row IN (SELECT row FROM isnad_chunks "
                                 "WHERE NOT graphed ORDER BY row LIMIT %s FOR UPDATE SKIP LOCKED)",
                                 (GRAPH_BATCH,)).rowcount:
                    pass
        except psycopg.Error:
            log.exception("maintaining the PostgreSQL store failed; the next upload tries again")

    def settle(self) -> None:
        """Wait for background maintenance (close() does too)."""
        self._maintainer.wait()

    def _seal(self, cur) -> None:
        """Inside a writer's transaction: every recent posting into one new segment."""
        segment = _segment(cur.execute(f"SELECT term, 0, {PACKED} FROM isnad_postings GROUP BY term",
                                       binary=True).fetchall(), ">i8", ">i4")
        if len(segment):
            self._write_segment(cur, segment)
        cur.execute("DELETE FROM isnad_postings")
        cur.execute("UPDATE isnad_stats SET unsealed = 0")

    def _merge_due(self, cur) -> None:
        """Inside a writer's transaction: the newest segments merged as they multiply (ten of a size into one
        of the next, ``bm25.mergeable``), so a query reads a few dozen segments however many uploads came
        before, and each posting is rewritten O(log n) times."""
        sizes = cur.execute("SELECT seg, sum(octet_length(rows)) / 4 FROM isnad_segments GROUP BY seg ORDER BY seg"
                            ).fetchall()
        while n := mergeable([int(size) for _, size in sizes]):
            merged = self._merge(cur, [seg for seg, _ in sizes[-n:]])
            sizes[-n:] = [(None, merged)]

    def compact(self) -> None:
        """Every posting in one segment and no dead rows left (after many deletes: a segment that is never
        merged keeps its deleted rows, and every query reads the list of them)."""
        with self._lock, _writing(self._db) as cur:
            self._seal(cur)
            if segs := [seg for seg, in cur.execute("SELECT DISTINCT seg FROM isnad_segments")]:
                self._merge(cur, segs)

    def held_deleted(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM isnad_dead").fetchone()[0]

    def advice(self) -> list[str]:
        """The graph should fit in shared_buffers: a filtered search walks more of it than an unfiltered one,
        and through small buffers it reads it page by page."""
        with self._lock:
            graph, buffers = self._db.execute(
                "SELECT pg_relation_size('isnad_chunks_hnsw'), pg_size_bytes(current_setting('shared_buffers'))"
            ).fetchone()
        if graph <= buffers:
            return []
        return [f"the HNSW graph ({_mb(graph)}) is larger than shared_buffers ({_mb(buffers)}): filtered searches "
                f"read it from disk page by page; set shared_buffers to at least {_mb(graph * 1.25)} on the server "
                "(and pg_prewarm the graph after a restart)"]

    def _merge(self, cur, segs: list[int]) -> int:
        """Inside a writer's transaction: segments ``segs`` rewritten as one, without their dead rows, which
        leave ``isnad_dead`` (a row lives in one segment only). Returns the new segment's postings."""
        parts = _sealed(cur.execute("SELECT seg, term, base, rows, tf, dl FROM isnad_segments WHERE seg = ANY(%s)",
                                    (segs,), binary=True).fetchall())
        dead = _rows(cur.execute(DEAD_ROWS, binary=True).fetchone()[0])
        merged = Segment.merged(parts, dead)
        gone = dead[np.isin(dead, np.concatenate([p.rows for p in parts]))] if parts else dead[:0]
        cur.execute("DELETE FROM isnad_segments WHERE seg = ANY(%s)", (segs,))
        cur.execute("DELETE FROM isnad_dead WHERE row = ANY(%s)", (gone.tolist(),))
        self._write_segment(cur, merged)
        return len(merged)

    @staticmethod
    def _write_segment(cur, segment: Segment) -> None:
        """One row per term: its rows as offsets from the segment's first row, its term frequencies and chunk
        lengths, each packed little-endian (lengths past 65,535 tokens count as 65,535)."""
        seg = cur.execute("UPDATE isnad_stats SET segments = segments + 1 RETURNING segments").fetchone()[0]
        base = int(segment.rows.min(initial=0))
        if len(segment) and int(segment.rows.max()) - base >= 2**32:
            raise StoreError("rows of one segment span more than 2^32 ids")
        offsets = (segment.rows - base).astype("<u4")
        tf, dl = (np.minimum(a, 65535).astype("<u2") for a in (segment.tf, segment.dl))
        with cur.copy("COPY isnad_segments (term, seg, base, rows, tf, dl) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["text", "int4", "int8", "bytea", "bytea", "bytea"])
            for term, a, b in zip(segment.terms, segment.indptr[:-1], segment.indptr[1:]):
                copy.write_row((str(term), seg, base, offsets[a:b].tobytes(), tf[a:b].tobytes(), dl[a:b].tobytes()))

    def delete(self, doc_ids: list[str]) -> int:
        with self._lock, _writing(self._db) as cur:
            return self._delete(cur, list(doc_ids))

    @staticmethod
    def _delete(cur, doc_ids: list[str]) -> int:
        """Inside a writer's transaction: frequencies and statistics first, sealed rows marked dead (their
        segments skip them), then the rows (recent postings cascade)."""
        if not doc_ids:
            return 0
        cur.execute("UPDATE isnad_terms t SET df = t.df - x.n FROM (SELECT term, count(*) AS n FROM isnad_chunks c "
                    "JOIN isnad_chunk_terms USING (row), unnest(terms) AS term WHERE c.doc_id = ANY(%s) GROUP BY term) x "
                    "WHERE t.term = x.term", (doc_ids,))
        n, terms = cur.execute("SELECT count(*), coalesce(sum(n_terms), 0) FROM isnad_chunks WHERE doc_id = ANY(%s)",
                               (doc_ids,)).fetchone()
        cur.execute("INSERT INTO isnad_dead SELECT c.row FROM isnad_chunks c WHERE c.doc_id = ANY(%s) AND c.n_terms > 0 "
                    "AND NOT EXISTS (SELECT FROM isnad_postings p WHERE p.row = c.row)", (doc_ids,))
        cur.execute("UPDATE isnad_stats SET n_chunks = n_chunks - %s, total_terms = total_terms - %s", (n, terms))
        cur.execute("DELETE FROM isnad_documents WHERE doc_id = ANY(%s)", (doc_ids,))
        cur.execute("DELETE FROM isnad_terms WHERE df <= 0")
        return n

    # ------------------------------------------------------------ reading

    def search(self, query_vector: np.ndarray | None, tokens: list[str] | None, n: int,
               filters: StoreFilters | None = None) -> Legs:
        """Both legs from one snapshot, at the same time: the dense leg, filtered in SQL, on this connection,
        while the BM25 leg (``_lexical``) reads its postings on a second one that imports this transaction's
        snapshot and scores them here. A hybrid query then costs the slower leg, not both (the server runs
        each in its own backend)."""
        where, args = _where(filters, "c")
        words = list(dict.fromkeys(t for t in (tokens or []) if t))
        legs = Legs()
        if query_vector is None and not words:
            return legs
        with self._lock, self._db.transaction():
            self._db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            if query_vector is None:
                legs.bm25 = self._bm25(self._db, words, n, filters)
                return legs
            lexical = None
            if words:
                snapshot = self._db.execute("SELECT pg_export_snapshot()").fetchone()[0]
                lexical = self._lexical_leg.submit(self._lexical, snapshot, words, n, filters)
            try:
                q = np.asarray(query_vector, dtype=np.float32)  # the graph's rows, and those still outside it exactly
                legs.dense = best_first(self._db.execute(" UNION ALL ".join(
                    f"(SELECT c.row, -(c.embedding <#> %s::vector) FROM isnad_chunks c WHERE {graphed} AND {where} "
                    "ORDER BY c.embedding <#> %s::vector LIMIT %s)" for graphed in ("c.graphed", "NOT c.graphed")),
                    [q, *args, q, n] * 2).fetchall(), n)
            finally:  # the snapshot lives as long as this transaction: the BM25 leg must have taken it first
                legs.bm25 = lexical.result() if lexical else []
        return legs

    def _lexical(self, snapshot: str, words: list[str], n: int, filters: StoreFilters | None) -> list[tuple[int, float]]:
        """The BM25 leg on its own connection, in the dense leg's snapshot (``pg_export_snapshot``)."""
        if self._lexical_db is None:
            self._lexical_db = self._connect()
        db = self._lexical_db
        with db.transaction():
            db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            db.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
            return self._bm25(db, words, n, filters)

    def _send_lexical(self, db: psycopg.Connection, words: list[str],
                      filters: StoreFilters | None) -> dict[str, psycopg.Cursor]:
        """Cursors, sent but not yet read: corpus statistics, the words' document frequencies, their sealed and
        recent postings, the dead rows, and under a filter the filter columns of rows added since the last
        filtered query (rows only grow) and the rows of the documents asked for."""
        queries = {"stats": ("SELECT n_chunks, total_terms FROM isnad_stats", ()),
                   "df": ("SELECT term, df FROM isnad_terms WHERE term = ANY(%s)", (words,)),
                   "sealed": ("SELECT seg, term, base, rows, tf, dl FROM isnad_segments WHERE term = ANY(%s)", (words,)),
                   "recent": (f"SELECT term, 0, {PACKED} FROM isnad_postings WHERE term = ANY(%s) GROUP BY term",
                              (words,)),
                   "dead": (DEAD_ROWS, ())}
        if filters:
            queries["columns"] = ("SELECT row, outlet_key, date FROM isnad_chunks WHERE row >= %s ORDER BY row",
                                  (len(self._columns),))
        if filters and filters.doc_ids is not None:
            queries["doc_rows"] = ("SELECT row FROM isnad_chunks WHERE doc_id = ANY(%s)", (sorted(filters.doc_ids),))
        sent = {}
        for name, (query, params) in queries.items():
            sent[name] = db.cursor(binary=True)
            sent[name].execute(query, params)
        return sent

    def _bm25(self, db: psycopg.Connection, words: list[str], n: int,
              filters: StoreFilters | None) -> list[tuple[int, float]]:
        """The n best chunks by BM25 in ``db``'s transaction, scored by rag/store/bm25.py over the postings
        ``_send_lexical`` reads in one round trip."""
        with db.pipeline():
            got = self._send_lexical(db, words, filters)
        postings = Postings(_sealed(got["sealed"].fetchall()), [_segment(got["recent"].fetchall(), ">i8", ">i4")],
                            _rows(got["dead"].fetchone()[0]))
        allowed = None
        if filters:
            self._columns.catch_up(got["columns"].fetchall())
            allowed = self._columns.mask(filters, [r for r, in got["doc_rows"]] if "doc_rows" in got else None)
        return postings.search(words, dict(got["df"].fetchall()), *got["stats"].fetchone(), n, allowed)

    def fetch(self, rows: list[int]) -> list[Stored]:
        if not rows:
            return []
        with self._lock:
            found = self._db.execute("SELECT c.row, c.data, d.data FROM isnad_chunks c JOIN isnad_documents d "
                                     "USING (doc_id) WHERE c.row = ANY(%s)", (list(rows),)).fetchall()
        by_row = {r: Stored(r, Chunk.from_dict(c), Document.from_dict(d)) for r, c, d in found}
        return [by_row[r] for r in rows if r in by_row]

    def documents(self, filters: StoreFilters | None = None, limit: int | None = None,
                  after: str | None = None) -> list[Document]:
        sql, args = paged_documents_sql("isnad_documents", *_where(filters, "d"), after, limit, "%s")
        with self._lock:
            return [Document.from_dict(data) for data, in self._db.execute(sql, args)]

    def chunk_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._db.execute("SELECT doc_id, count(*) FROM isnad_chunks GROUP BY doc_id").fetchall())

    def doc_ids_for(self, sources: list[str]) -> dict[str, str]:
        with self._lock:
            return dict(self._db.execute("SELECT source, doc_id FROM isnad_documents WHERE source = ANY(%s)",
                                         (list(sources),)).fetchall())

    def close(self) -> None:
        self.settle()
        with self._lock:
            self._lexical_leg.shutdown()
            if self._lexical_db is not None:
                self._lexical_db.close()
            self._db.close()


@contextmanager
def _writing(db: psycopg.Connection) -> Iterator[psycopg.Cursor]:
    """A cursor in one transaction on ``db`` holding the writers' lock (released when it ends)."""
    with db.transaction():
        cur = db.cursor()
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
        yield cur


def _where(filters: StoreFilters | None, table: str) -> tuple[str, list]:
    """SQL over ``table`` (chunks and documents both carry doc_id, outlet_key and date, indexed)."""
    if not filters:
        return "true", []
    parts, args = ["true"], []
    if filters.outlet:
        parts.append(f"{table}.outlet_key = %s")
        args.append(outlet_key(filters.outlet))
    if filters.date_from:
        parts.append(f"{table}.date >= %s")
        args.append(filters.date_from)
    if filters.date_to:
        parts.append(f"{table}.date <= %s")
        args.append(filters.date_to)
    if filters.doc_ids is not None:
        parts.append(f"{table}.doc_id = ANY(%s)")
        args.append(sorted(filters.doc_ids))
    return " AND ".join(parts), args


def _mb(n: float) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def _sealed(got: list[tuple]) -> list[Segment]:
    """Sealed segments from ``(seg, term, base, rows, tf, dl)`` rows, one Segment per seg."""
    by_seg: dict[int, list] = {}
    for seg, *packed in got:
        by_seg.setdefault(seg, []).append(packed)
    return [_segment(terms, "<u4", "<u2") for terms in by_seg.values()]


def _rows(packed: bytes | None) -> np.ndarray:
    """Rows packed by ``string_agg(int8send(row), '')`` (None: no rows)."""
    return np.frombuffer(packed or b"", ">i8").astype(np.int64)


def _segment(got: list[tuple], rows_type: str, field_type: str) -> Segment:
    """A Segment from ``(term, base, rows, tf, dl)`` per term, each field packed (the recent postings' big-endian
    int8/int4 from ``PACKED`` with base 0, or a sealed segment's little-endian offsets and uint16, base shared).
    Each field is joined and widened once; tf and dl stay integers (the weights widen them to float64)."""
    got = sorted(got, key=lambda g: g[0])
    fields = [[np.frombuffer(g[i], rows_type if i == 2 else field_type) for g in got] for i in (2, 3, 4)]
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in fields[0]])]).astype(np.int64)
    rows, tf, dl = (np.concatenate(f) if f else np.zeros(0, np.int64) for f in fields)
    base = got[0][1] if got else 0
    return Segment(np.array([g[0] for g in got], dtype=str), indptr, rows.astype(np.int64) + base, tf, dl)
