"""The server store: PostgreSQL + pgvector, selected with ``ISNAD_STORE=postgresql://…``.

One table of chunks with their vectors under HNSW (``hnsw.iterative_scan`` keeps filtered
searches full), outlet and date copied onto each chunk as indexed columns, and the lexical
leg as real BM25 computed from a postings table ``(term, row, tf)`` with document
frequencies and corpus statistics kept exact in the same transaction as every upsert.
PostgreSQL's ``ts_rank`` is not BM25 and is not used. Both legs come back in one query.
Writers serialise on a transaction-level advisory lock (df and statistics stay exact);
readers never wait (MVCC).
"""

from __future__ import annotations

import json
import threading
from collections import Counter

import numpy as np
import psycopg

from rag.chunking import Chunk
from rag.ingest import Document
from rag.store.base import Item, Legs, Store, StoreError, check_items, paged_documents_sql, StoreFilters, StoreInfo, StoreMissingError, Stored, outlet_key

K1, B = 1.5, 0.75  # BM25: bm25s's defaults (Lucene's idf), as the generation folders use
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
CREATE INDEX IF NOT EXISTS isnad_chunks_hnsw ON isnad_chunks USING hnsw (embedding vector_ip_ops);
CREATE TABLE IF NOT EXISTS isnad_postings(term text NOT NULL, row bigint NOT NULL REFERENCES isnad_chunks(row) ON DELETE CASCADE,
                                          tf int NOT NULL, n_terms int NOT NULL, PRIMARY KEY (term, row) INCLUDE (tf, n_terms));
CREATE INDEX IF NOT EXISTS isnad_postings_row ON isnad_postings(row);
CREATE TABLE IF NOT EXISTS isnad_terms(term text PRIMARY KEY, df int NOT NULL);
CREATE TABLE IF NOT EXISTS isnad_stats(id int PRIMARY KEY, n_chunks bigint NOT NULL, total_terms bigint NOT NULL);
INSERT INTO isnad_stats VALUES (1, 0, 0) ON CONFLICT DO NOTHING;
"""


def _vec(v: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in np.asarray(v, dtype=np.float32).ravel()) + "]"


class PostgresStore(Store):
    """Chunks, vectors and postings in one PostgreSQL database; any number of app servers may share it."""

    def __init__(self, url: str, info: StoreInfo | None = None, ef_search: int = 200):
        try:
            self._db = psycopg.connect(url, autocommit=True)
        except psycopg.Error as e:
            raise StoreError(f"cannot reach PostgreSQL ({str(e).strip().splitlines()[0]}); check ISNAD_STORE") from None
        self._lock = threading.RLock()
        self._db.execute(f"SET hnsw.ef_search = {int(ef_search)}")
        self._db.execute("SET hnsw.iterative_scan = relaxed_order")  # a filter never empties the result
        self._db.execute("SET jit = off")  # compiling a query's expressions cost more (~50 ms) than they save here
        self._info = self._meta(info)

    def _meta(self, info: StoreInfo | None) -> StoreInfo:
        with self._db.transaction():
            self._db.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
            exists = self._db.execute("SELECT to_regclass('isnad_meta') IS NOT NULL").fetchone()[0]
            rows = dict(self._db.execute("SELECT key, value FROM isnad_meta").fetchall()) if exists else {}
            if not rows:
                if info is None:
                    raise StoreMissingError("no Isnad index in this database: run `isnad ingest PATH...` first")
                self._db.execute(SCHEMA.format(dim=int(info.dim)))
                self._db.cursor().executemany("INSERT INTO isnad_meta VALUES (%s, %s)", [
                    ("model_id", info.model_id), ("dim", str(info.dim)), ("chunker", json.dumps(info.chunker))])
                return StoreInfo(info.model_id, info.dim, info.chunker)
        return StoreInfo(rows["model_id"], int(rows["dim"]), json.loads(rows["chunker"]))

    def info(self) -> StoreInfo:
        with self._lock:
            n_docs = self._db.execute("SELECT count(*) FROM isnad_documents").fetchone()[0]
            n_chunks = self._db.execute("SELECT n_chunks FROM isnad_stats").fetchone()[0]
        return StoreInfo(self._info.model_id, self._info.dim, self._info.chunker, n_docs, n_chunks)

    # ------------------------------------------------------------ writing

    def upsert_many(self, items: list[Item]) -> list[list[int]]:
        """Documents, chunks, postings, document frequencies and statistics in one transaction."""
        check_items(items)
        out = []
        with self._lock, self._db.transaction():
            cur = self._db.cursor()
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
            old = [r for r, in cur.execute("SELECT doc_id FROM isnad_documents WHERE source = ANY(%s) OR doc_id = ANY(%s)",
                                           ([d.source for d, *_ in items], [d.doc_id for d, *_ in items]))]
            self._delete(cur, old)
            df: Counter = Counter()
            n_terms = 0
            for doc, chunks, vectors, tokens in items:
                key = outlet_key(doc.outlet)
                cur.execute("INSERT INTO isnad_documents VALUES (%s, %s, %s, %s, %s)",
                            (doc.doc_id, doc.source, key, doc.date, json.dumps(doc.to_dict(), ensure_ascii=False)))
                rows = [r for r, in cur.execute("SELECT nextval('isnad_chunks_row_seq') FROM generate_series(1, %s)",
                                                 (len(chunks),)).fetchall()]
                with cur.copy("COPY isnad_chunks (row, doc_id, outlet_key, date, n_terms, data, embedding) "
                              "FROM STDIN") as copy:
                    for r, c, v, t in zip(rows, chunks, vectors, tokens):
                        copy.write_row((r, doc.doc_id, key, doc.date, len(t), json.dumps(c.to_dict(), ensure_ascii=False),
                                        _vec(v)))
                postings = [(term, row, tf, len(t)) for row, t in zip(rows, tokens) for term, tf in Counter(t).items()]
                with cur.copy("COPY isnad_postings (term, row, tf, n_terms) FROM STDIN") as copy:
                    for p in postings:
                        copy.write_row(p)
                df.update(term for term, *_ in postings)
                n_terms += sum(len(t) for t in tokens)
                out.append(rows)
            cur.executemany("INSERT INTO isnad_terms VALUES (%s, %s) ON CONFLICT (term) DO UPDATE "
                            "SET df = isnad_terms.df + EXCLUDED.df", sorted(df.items()))
            cur.execute("UPDATE isnad_stats SET n_chunks = n_chunks + %s, total_terms = total_terms + %s",
                        (sum(len(r) for r in out), n_terms))
        return out

    def delete(self, doc_ids: list[str]) -> int:
        with self._lock, self._db.transaction():
            cur = self._db.cursor()
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
            return self._delete(cur, list(doc_ids))

    @staticmethod
    def _delete(cur, doc_ids: list[str]) -> int:
        """Inside a writer's transaction: frequencies and statistics first, then the rows (postings cascade)."""
        if not doc_ids:
            return 0
        cur.execute("UPDATE isnad_terms t SET df = t.df - x.n FROM (SELECT p.term, count(*) AS n FROM isnad_postings p "
                    "JOIN isnad_chunks c ON c.row = p.row WHERE c.doc_id = ANY(%s) GROUP BY p.term) x "
                    "WHERE t.term = x.term", (doc_ids,))
        n, terms = cur.execute("SELECT count(*), coalesce(sum(n_terms), 0) FROM isnad_chunks WHERE doc_id = ANY(%s)",
                               (doc_ids,)).fetchone()
        cur.execute("UPDATE isnad_stats SET n_chunks = n_chunks - %s, total_terms = total_terms - %s", (n, terms))
        cur.execute("DELETE FROM isnad_documents WHERE doc_id = ANY(%s)", (doc_ids,))
        cur.execute("DELETE FROM isnad_terms WHERE df <= 0")
        return n

    # ------------------------------------------------------------ reading

    def search(self, query_vector: np.ndarray | None, tokens: list[str] | None, n: int,
               filters: StoreFilters | None = None) -> Legs:
        where, args = _where(filters, "c")
        parts, params = [], []
        if query_vector is not None:
            q = _vec(query_vector)
            parts.append(f"(SELECT 'd', c.row, -(c.embedding <#> %s::vector) FROM isnad_chunks c WHERE {where} "
                         "ORDER BY c.embedding <#> %s::vector LIMIT %s)")
            params += [q, *args, q, n]
        words = list(dict.fromkeys(t for t in (tokens or []) if t))
        if words:  # each posting carries its chunk's length: the chunk table is joined only to filter
            allowed = f"AND p.row IN (SELECT c.row FROM isnad_chunks c WHERE {where})" if filters else ""
            # the terms on the postings themselves (index-only range scans of the primary key, which
            # carries tf and length), and idf in float8 (a numeric idf made every posting's arithmetic numeric)
            parts.append(
                "(SELECT 'b', p.row, sum(q.idf * p.tf / (p.tf + %s * (1 - %s + %s * p.n_terms / q.avgdl))) AS score "
                "FROM isnad_postings p JOIN (SELECT t.term, ln(1 + (s.n_chunks - t.df + 0.5::float8) / (t.df + 0.5::float8)) "
                "AS idf, greatest(s.total_terms::float8 / greatest(s.n_chunks, 1), 1) AS avgdl FROM isnad_terms t, isnad_stats s "
                f"WHERE t.term = ANY(%s)) q ON q.term = p.term "
                f"WHERE p.term = ANY(%s) {allowed} GROUP BY p.row ORDER BY score DESC, p.row LIMIT %s)")
            params += [K1, B, B, words, words, *args, n]
        legs = Legs()
        if not parts:
            return legs
        with self._lock, self._db.transaction():
            # a filter's rows hash-joined to the terms' postings, not probed one posting at a time
            # (at 100k chunks: an outlet filter 54 ms, not 149 ms); only for this query
            self._db.execute("SET LOCAL enable_nestloop = off")
            rows = self._db.execute(" UNION ALL ".join(parts), params).fetchall()
        legs.dense = sorted(((int(r), float(s)) for leg, r, s in rows if leg == "d"), key=lambda x: (-x[1], x[0]))
        legs.bm25 = sorted(((int(r), float(s)) for leg, r, s in rows if leg == "b"), key=lambda x: (-x[1], x[0]))
        return legs

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
        with self._lock:
            self._db.close()


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
