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
from functools import partial

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg.types.json import Jsonb, set_json_dumps

from rag.errors import StoreError, StoreMissingError
from rag.store.base import (
    Background,
    Legs,
    Store,
    Stored,
    StoreInfo,
    best_first,
    check_items,
    outlet_key,
    paged_documents_sql,
)
from rag.store.bm25 import Segment
from rag.store.columns import FilterColumns
from rag.store.postgres_lexical import LexicalSegments
from rag.store.postgres_sql import GRAPHED, HNSW, HNSW_M, SCHEMA, SEGMENTS, _mb, _where, _writing
from rag.types import Chunk, Document, Filters, Item

BULK_AT = 20_000  # chunks into an empty database: the HNSW graph built once after the rows
SEAL_AT = 250_000  # recent postings sealed into a segment (about 4,000 chunks of Arabic news; ~1 s)
GRAPH_AT = 1_000  # rows outside the graph (searched exactly: a few ms) before a background batch adds them
GRAPH_BATCH = 100  # rows added to the graph per transaction
log = logging.getLogger(__name__)
MAX_BUILD_MB = 8192  # the most memory a bulk build asks of the server (maintenance_work_mem)


class PostgresStore(LexicalSegments, Store):
    """Chunks, vectors and postings in one PostgreSQL database; any number of app servers may share it."""

    def __init__(
        self,
        url: str,
        info: StoreInfo | None = None,
        ef_search: int = 200,
        bulk_at: int = BULK_AT,
        seal_at: int = SEAL_AT,
        graph_at: int = GRAPH_AT,
    ):
        self._url = url
        try:
            self._db = self._connect()
        except psycopg.Error as e:
            raise StoreError(
                f"cannot reach PostgreSQL ({str(e).strip().splitlines()[0]}); check ISNAD_STORE"
            ) from None
        self._lock, self._bulk_at, self._seal_at, self._graph_at = (
            threading.RLock(),
            bulk_at,
            seal_at,
            graph_at,
        )
        self._maintainer = Background(self._maintain, "isnad-maintain")
        self._columns = FilterColumns()  # each row's outlet and date, for the BM25 leg's filters
        self._db.execute(f"SET hnsw.ef_search = {int(ef_search)}")
        self._db.execute("SET hnsw.iterative_scan = relaxed_order")  # a filter never empties the result
        self._lexical_db: psycopg.Connection | None = (
            None  # the BM25 leg's, opened on the first hybrid search
        )
        self._lexical_leg = ThreadPoolExecutor(1, "isnad-bm25")
        self._info = self._meta(info)
        # vectors travel in pgvector's binary form, not as text (once the type exists)
        register_vector(self._db)
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
                    raise StoreMissingError(
                        "no Isnad index in this database: run `isnad ingest PATH...` first"
                    )
                cur.execute(SCHEMA.format(dim=int(info.dim)))
                cur.execute(HNSW.format("IF NOT EXISTS"))
                cur.executemany(
                    "INSERT INTO isnad_meta VALUES (%s, %s)",
                    [
                        ("model_id", info.model_id),
                        ("dim", str(info.dim)),
                        ("chunker", json.dumps(info.chunker)),
                    ],
                )
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
        cur.execute(
            "INSERT INTO isnad_chunk_terms SELECT row, array_agg(term) FROM isnad_postings GROUP BY row"
        )
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
            old = [
                r
                for (r,) in cur.execute(
                    "SELECT doc_id FROM isnad_documents WHERE source = ANY(%s) OR doc_id = ANY(%s)",
                    ([d.source for d, *_ in items], [d.doc_id for d, *_ in items]),
                )
            ]
            self._delete(cur, old)
            n_new = sum(len(chunks) for _, chunks, _, _ in items)
            bulk = (
                n_new >= self._bulk_at and cur.execute("SELECT n_chunks = 0 FROM isnad_stats").fetchone()[0]
            )
            if bulk:
                cur.execute("DROP INDEX isnad_chunks_hnsw")
            ids = iter(
                r
                for (r,) in cur.execute(
                    "SELECT nextval('isnad_chunks_row_seq') FROM generate_series(1, %s)", (n_new,)
                ).fetchall()
            )
            out = [[next(ids) for _ in chunks] for _, chunks, _, _ in items]
            rows = [r for rs in out for r in rs]
            tokens = [t for _, _, _, ts in items for t in ts]
            counts = [Counter(t) for t in tokens]
            with cur.copy(
                "COPY isnad_documents (doc_id, source, outlet_key, date, data) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["text", "text", "text", "text", "jsonb"])
                for doc, *_ in items:
                    copy.write_row(
                        (doc.doc_id, doc.source, outlet_key(doc.outlet), doc.date, Jsonb(doc.to_dict()))
                    )
            with cur.copy(
                "COPY isnad_chunks (row, doc_id, outlet_key, date, n_terms, data, embedding, graphed) "
                "FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["int8", "text", "text", "text", "int4", "jsonb", "vector", "bool"])
                for rs, (doc, chunks, vectors, ts) in zip(out, items):
                    key = outlet_key(doc.outlet)
                    for r, c, v, t in zip(rs, chunks, vectors, ts):
                        copy.write_row(
                            (
                                r,
                                doc.doc_id,
                                key,
                                doc.date,
                                len(t),
                                Jsonb(c.to_dict()),
                                np.asarray(v, dtype=np.float32),
                                bulk,
                            )
                        )
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
                with cur.copy(
                    "COPY isnad_postings (term, row, tf, n_terms) FROM STDIN (FORMAT BINARY)"
                ) as copy:
                    copy.set_types(["text", "int8", "int4", "int4"])
                    for row, t, c in zip(rows, tokens, counts):
                        for term, tf in c.items():
                            copy.write_row((term, row, tf, len(t)))
                unsealed = cur.execute(
                    "UPDATE isnad_stats SET unsealed = unsealed + %s RETURNING unsealed", (n_postings,)
                ).fetchone()[0]
                due = unsealed >= self._seal_at
            df = Counter(term for c in counts for term in c)
            terms = sorted(df)
            cur.execute(
                "INSERT INTO isnad_terms SELECT * FROM unnest(%s::text[], %s::int[]) ON CONFLICT (term) "
                "DO UPDATE SET df = isnad_terms.df + EXCLUDED.df",
                (terms, [df[t] for t in terms]),
            )
            cur.execute(
                "UPDATE isnad_stats SET n_chunks = n_chunks + %s, total_terms = total_terms + %s",
                (n_new, sum(len(t) for t in tokens)),
            )
            if bulk:  # the graph is built in memory when it fits (pgvector), else page by page, far slower
                need = n_new * (self._info.dim * 4 + 25 * HNSW_M) * 1.3 / 2**20  # a vector and its neighbours
                cur.execute(f"SET LOCAL maintenance_work_mem = '{int(min(max(need, 64), MAX_BUILD_MB))}MB'")
                cur.execute(HNSW.format(""))
                cur.execute("ANALYZE isnad_chunks, isnad_segments, isnad_terms")
            else:
                due = (
                    due
                    or cur.execute(
                        "SELECT count(*) >= %s FROM isnad_chunks WHERE NOT graphed", (self._graph_at,)
                    ).fetchone()[0]
                )
        # now, not by autovacuum while the first queries run (a million rows' visibility and hint bits)
        if bulk:
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
                while db.execute(
                    "UPDATE isnad_chunks SET graphed = true WHERE row IN (SELECT row FROM isnad_chunks "
                    "WHERE NOT graphed ORDER BY row LIMIT %s FOR UPDATE SKIP LOCKED)",
                    (GRAPH_BATCH,),
                ).rowcount:
                    pass
        except psycopg.Error:
            log.exception("maintaining the PostgreSQL store failed; the next upload tries again")

    def settle(self) -> None:
        """Wait for background maintenance (close() does too)."""
        self._maintainer.wait()

    def compact(self) -> None:
        """Every posting in one segment and no dead rows left (after many deletes: a segment that is never
        merged keeps its deleted rows, and every query reads the list of them)."""
        with self._lock, _writing(self._db) as cur:
            self._seal(cur)
            if segs := [seg for (seg,) in cur.execute("SELECT DISTINCT seg FROM isnad_segments")]:
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
        return [
            f"the HNSW graph ({_mb(graph)}) is larger than shared_buffers ({_mb(buffers)}): filtered searches "
            f"read it from disk page by page; set shared_buffers to at least {_mb(graph * 1.25)} on the server "
            "(and pg_prewarm the graph after a restart)"
        ]

    def delete(self, doc_ids: list[str]) -> int:
        with self._lock, _writing(self._db) as cur:
            return self._delete(cur, list(doc_ids))

    @staticmethod
    def _delete(cur, doc_ids: list[str]) -> int:
        """Inside a writer's transaction: frequencies and statistics first, sealed rows marked dead (their
        segments skip them), then the rows (recent postings cascade)."""
        if not doc_ids:
            return 0
        cur.execute(
            "UPDATE isnad_terms t SET df = t.df - x.n FROM (SELECT term, count(*) AS n FROM isnad_chunks c "
            "JOIN isnad_chunk_terms USING (row), unnest(terms) AS term WHERE c.doc_id = ANY(%s) GROUP BY term) x "
            "WHERE t.term = x.term",
            (doc_ids,),
        )
        n, terms = cur.execute(
            "SELECT count(*), coalesce(sum(n_terms), 0) FROM isnad_chunks WHERE doc_id = ANY(%s)", (doc_ids,)
        ).fetchone()
        cur.execute(
            "INSERT INTO isnad_dead SELECT c.row FROM isnad_chunks c WHERE c.doc_id = ANY(%s) AND c.n_terms > 0 "
            "AND NOT EXISTS (SELECT FROM isnad_postings p WHERE p.row = c.row)",
            (doc_ids,),
        )
        cur.execute(
            "UPDATE isnad_stats SET n_chunks = n_chunks - %s, total_terms = total_terms - %s", (n, terms)
        )
        cur.execute("DELETE FROM isnad_documents WHERE doc_id = ANY(%s)", (doc_ids,))
        cur.execute("DELETE FROM isnad_terms WHERE df <= 0")
        return n

    # ------------------------------------------------------------ reading

    def search(
        self,
        query_vector: np.ndarray | None,
        tokens: list[str] | None,
        n: int,
        filters: Filters | None = None,
    ) -> Legs:
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
                # the graph's rows, and those still outside it exactly
                q = np.asarray(query_vector, dtype=np.float32)
                legs.dense = best_first(
                    self._db.execute(
                        " UNION ALL ".join(
                            "(SELECT c.row, -(c.embedding <#> %s::vector) FROM isnad_chunks c "
                            f"WHERE {graphed} AND {where} "
                            "ORDER BY c.embedding <#> %s::vector LIMIT %s)"
                            for graphed in ("c.graphed", "NOT c.graphed")
                        ),
                        [q, *args, q, n] * 2,
                    ).fetchall(),
                    n,
                )
            finally:  # the snapshot lives as long as this transaction: the BM25 leg must have taken it first
                legs.bm25 = lexical.result() if lexical else []
        return legs

    def fetch(self, rows: list[int]) -> list[Stored]:
        if not rows:
            return []
        with self._lock:
            found = self._db.execute(
                "SELECT c.row, c.data, d.data FROM isnad_chunks c JOIN isnad_documents d "
                "USING (doc_id) WHERE c.row = ANY(%s)",
                (list(rows),),
            ).fetchall()
        by_row = {r: Stored(r, Chunk.from_dict(c), Document.from_dict(d)) for r, c, d in found}
        return [by_row[r] for r in rows if r in by_row]

    def documents(
        self, filters: Filters | None = None, limit: int | None = None, after: str | None = None
    ) -> list[Document]:
        sql, args = paged_documents_sql("isnad_documents", *_where(filters, "d"), after, limit, "%s")
        with self._lock:
            return [Document.from_dict(data) for (data,) in self._db.execute(sql, args)]

    def chunk_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(
                self._db.execute("SELECT doc_id, count(*) FROM isnad_chunks GROUP BY doc_id").fetchall()
            )

    def doc_ids_for(self, sources: list[str]) -> dict[str, str]:
        with self._lock:
            return dict(
                self._db.execute(
                    "SELECT source, doc_id FROM isnad_documents WHERE source = ANY(%s)", (list(sources),)
                ).fetchall()
            )

    def close(self) -> None:
        self.settle()
        with self._lock:
            self._lexical_leg.shutdown()
            if self._lexical_db is not None:
                self._lexical_db.close()
            self._db.close()
