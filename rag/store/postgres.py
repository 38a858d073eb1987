"""The server store: PostgreSQL + pgvector, selected with ``ISNAD_STORE=postgresql://…``.

One table of chunks with their vectors under HNSW (``hnsw.iterative_scan`` keeps filtered
searches full), outlet and date copied onto each chunk as indexed columns, and the lexical
leg as real BM25 computed from a postings table ``(term, row, tf)`` with document
frequencies and corpus statistics kept exact in the same transaction as every upsert.
PostgreSQL's ``ts_rank`` is not BM25 and is not used. Both legs come back in one query; the
commonest query words are only looked up for the chunks still in reach of the top k (MaxScore).
Writers serialise on a transaction-level advisory lock (df and statistics stay exact);
readers never wait (MVCC), except for the one transaction that fills an empty database in bulk.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from functools import partial

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg.types.json import Jsonb, set_json_dumps

from rag.chunking import Chunk
from rag.ingest import Document
from rag.store.bm25 import B, K1, idfs, split_common
from rag.store.base import best_first, Item, Legs, Store, StoreError, check_items, paged_documents_sql, StoreFilters, StoreInfo, StoreMissingError, Stored, outlet_key

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
CREATE TABLE IF NOT EXISTS isnad_postings(term text NOT NULL, row bigint NOT NULL, tf int NOT NULL, n_terms int NOT NULL);
CREATE TABLE IF NOT EXISTS isnad_terms(term text PRIMARY KEY, df int NOT NULL);
CREATE TABLE IF NOT EXISTS isnad_stats(id int PRIMARY KEY, n_chunks bigint NOT NULL, total_terms bigint NOT NULL);
INSERT INTO isnad_stats VALUES (1, 0, 0) ON CONFLICT DO NOTHING;
"""
# The indexes a row-by-row insert pays for on every row: built once, after the rows, when an empty
# database is filled in bulk (the names are PostgreSQL's defaults, so earlier databases match)
BUILT_LATE = """
CREATE INDEX isnad_chunks_hnsw ON isnad_chunks USING hnsw (embedding vector_ip_ops);
ALTER TABLE isnad_postings ADD CONSTRAINT isnad_postings_pkey PRIMARY KEY (term, row) INCLUDE (tf, n_terms),
    ADD CONSTRAINT isnad_postings_row_fkey FOREIGN KEY (row) REFERENCES isnad_chunks(row) ON DELETE CASCADE;
CREATE INDEX isnad_postings_row ON isnad_postings(row);
"""
DROPPED_EARLY = """
DROP INDEX isnad_chunks_hnsw, isnad_postings_row;
ALTER TABLE isnad_postings DROP CONSTRAINT isnad_postings_row_fkey, DROP CONSTRAINT isnad_postings_pkey;
"""
WEIGHT = f"sum(q.idf * p.tf / (p.tf + {K1} * (1 - {B} + {B} * p.n_terms / %s::float8)))"  # bm25s's, over postings p
NTH_BEST = "(SELECT score FROM s ORDER BY score DESC OFFSET %s LIMIT 1)"  # over the CTE s, n-1 as the offset
BULK_AT = 20_000  # chunks into an empty database: indexes dropped and built once after the rows
MAX_BUILD_MB = 8192  # the most memory a bulk build asks of the server (maintenance_work_mem)


class PostgresStore(Store):
    """Chunks, vectors and postings in one PostgreSQL database; any number of app servers may share it."""

    def __init__(self, url: str, info: StoreInfo | None = None, ef_search: int = 200, bulk_at: int = BULK_AT):
        try:
            self._db = psycopg.connect(url, autocommit=True)
        except psycopg.Error as e:
            raise StoreError(f"cannot reach PostgreSQL ({str(e).strip().splitlines()[0]}); check ISNAD_STORE") from None
        self._lock, self._bulk_at = threading.RLock(), bulk_at
        self._db.execute(f"SET hnsw.ef_search = {int(ef_search)}")
        self._db.execute("SET hnsw.iterative_scan = relaxed_order")  # a filter never empties the result
        self._db.execute("SET jit = off")  # compiling a query's expressions cost more (~50 ms) than they save here
        self._info = self._meta(info)
        register_vector(self._db)  # vectors travel in pgvector's binary form, not as text
        set_json_dumps(partial(json.dumps, ensure_ascii=False), self._db)  # Arabic as itself, not \uXXXX

    def _meta(self, info: StoreInfo | None) -> StoreInfo:
        with self._db.transaction():
            self._db.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
            exists = self._db.execute("SELECT to_regclass('isnad_meta') IS NOT NULL").fetchone()[0]
            rows = dict(self._db.execute("SELECT key, value FROM isnad_meta").fetchall()) if exists else {}
            if not rows:
                if info is None:
                    raise StoreMissingError("no Isnad index in this database: run `isnad ingest PATH...` first")
                self._db.execute(SCHEMA.format(dim=int(info.dim)) + BUILT_LATE)
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
        """Documents, chunks, postings, document frequencies and statistics in one transaction.

        Filling an empty database with at least BULK_AT chunks (a first ingest, a migration)
        builds the HNSW graph and the postings' keys once, after the rows, in the same
        transaction: inserting into them row by row is what made 100k chunks take 8.5 minutes.
        Readers wait for that transaction, as they would see nothing before it anyway."""
        check_items(items)
        with self._lock, self._db.transaction():
            cur = self._db.cursor()
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
            old = [r for r, in cur.execute("SELECT doc_id FROM isnad_documents WHERE source = ANY(%s) OR doc_id = ANY(%s)",
                                           ([d.source for d, *_ in items], [d.doc_id for d, *_ in items]))]
            self._delete(cur, old)
            n_new = sum(len(chunks) for _, chunks, _, _ in items)
            bulk = n_new >= self._bulk_at and cur.execute("SELECT n_chunks = 0 FROM isnad_stats").fetchone()[0]
            if bulk:
                cur.execute(DROPPED_EARLY)
            ids = iter(r for r, in cur.execute("SELECT nextval('isnad_chunks_row_seq') FROM generate_series(1, %s)",
                                                (n_new,)).fetchall())
            out = [[next(ids) for _ in chunks] for _, chunks, _, _ in items]
            with cur.copy("COPY isnad_documents (doc_id, source, outlet_key, date, data) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["text", "text", "text", "text", "jsonb"])
                for doc, *_ in items:
                    copy.write_row((doc.doc_id, doc.source, outlet_key(doc.outlet), doc.date, Jsonb(doc.to_dict())))
            with cur.copy("COPY isnad_chunks (row, doc_id, outlet_key, date, n_terms, data, embedding) "
                          "FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int8", "text", "text", "text", "int4", "jsonb", "vector"])
                for rows, (doc, chunks, vectors, tokens) in zip(out, items):
                    key = outlet_key(doc.outlet)
                    for r, c, v, t in zip(rows, chunks, vectors, tokens):
                        copy.write_row((r, doc.doc_id, key, doc.date, len(t), Jsonb(c.to_dict()),
                                        np.asarray(v, dtype=np.float32)))
            df: Counter = Counter()
            n_terms = 0
            with cur.copy("COPY isnad_postings (term, row, tf, n_terms) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["text", "int8", "int4", "int4"])
                for rows, (_, _, _, tokens) in zip(out, items):
                    for row, t in zip(rows, tokens):
                        counts = Counter(t)
                        for term, tf in counts.items():
                            copy.write_row((term, row, tf, len(t)))
                        df.update(counts.keys())
                        n_terms += len(t)
            terms = sorted(df)
            cur.execute("INSERT INTO isnad_terms SELECT * FROM unnest(%s::text[], %s::int[]) ON CONFLICT (term) "
                        "DO UPDATE SET df = isnad_terms.df + EXCLUDED.df", (terms, [df[t] for t in terms]))
            cur.execute("UPDATE isnad_stats SET n_chunks = n_chunks + %s, total_terms = total_terms + %s",
                        (n_new, n_terms))
            if bulk:  # the graph is built in memory when it fits (pgvector), else page by page, far slower
                need = n_new * (self._info.dim * 4 + 400) * 1.3 / 2**20
                cur.execute(f"SET LOCAL maintenance_work_mem = '{int(min(max(need, 64), MAX_BUILD_MB))}MB'")
                cur.execute(BUILT_LATE)
                cur.execute("ANALYZE isnad_chunks, isnad_postings, isnad_terms")
        if bulk:  # the visibility map set at once, so postings are index-only scans from the first query
            with self._lock:
                self._db.execute("VACUUM isnad_chunks, isnad_postings")
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
        words = list(dict.fromkeys(t for t in (tokens or []) if t))
        legs = Legs()
        if query_vector is None and not words:
            return legs
        with self._lock, self._db.transaction():
            # a filter's rows hash-joined to the terms' postings, not probed one posting at a time
            # (at 100k chunks: an outlet filter 54 ms, not 149 ms); only for this query
            self._db.execute("SET LOCAL enable_nestloop = off")
            idf, avgdl, df, n_chunks = self._idfs(words)
            floor = self._floor(idf, avgdl, df, n_chunks, where, args, bool(filters), n)
            scored, common = split_common(idf, floor)
            sql, params = self._legs(query_vector, scored, common, idf, avgdl, floor, where, args, bool(filters), n)
            rows = self._db.execute(sql, params).fetchall() if sql else []  # no vector, no known word
        legs.dense = best_first((r, s) for leg, r, s in rows if leg == "d")
        legs.bm25 = best_first((r, s) for leg, r, s in rows if leg == "b")
        return legs

    def _idfs(self, words: list[str]) -> tuple[dict[str, float], float, dict[str, int], int]:
        """Each known word's idf, the mean chunk length, the words' document frequencies, the chunk count."""
        if not words:
            return {}, 1.0, {}, 0
        n_chunks, total_terms = self._db.execute("SELECT n_chunks, total_terms FROM isnad_stats").fetchone()
        df = dict(self._db.execute("SELECT term, df FROM isnad_terms WHERE term = ANY(%s)", (words,)).fetchall())
        return *idfs(words, df, n_chunks, total_terms), df, n_chunks

    def _floor(self, idf: dict[str, float], avgdl: float, df: dict[str, int], n_chunks: int, where: str,
               args: list, filtered: bool, n: int) -> float:
        """A floor under the n-th best BM25 score: the n-th best over the rarest terms alone (scores only grow as
        terms are added), from postings that are cheap to read. The commonest terms whose idfs sum below it can
        lift no chunk that lacks the others into the top n. 0 when the rare terms give no floor."""
        rare, budget = [], max(1000, n_chunks // 20)  # a few percent of the postings at most
        for w in sorted(idf, key=lambda w: -idf[w]):
            if df[w] > budget:
                break
            rare.append(w)
            budget -= df[w]
        if not rare or len(rare) == len(idf):
            return 0.0
        sql, params = self._lexical(rare, idf, avgdl, where, args, filtered)
        return self._db.execute(f"WITH {sql} SELECT coalesce({NTH_BEST}, 0)", [*params, n - 1]).fetchone()[0]

    @staticmethod
    def _lexical(scored: list[str], idf: dict[str, float], avgdl: float, where: str, args: list,
                 filtered: bool) -> tuple[str, list]:
        """CTEs ``q`` (each term's idf) and ``s`` (each chunk's summed BM25 weight over ``scored``), and their
        parameters. Each posting carries its chunk's length: the chunk table is joined only to filter."""
        allowed = f"AND p.row IN (SELECT c.row FROM isnad_chunks c WHERE {where})" if filtered else ""
        return ("q(term, idf) AS (SELECT * FROM unnest(%s::text[], %s::float8[])), "
                f"s AS (SELECT p.row, {WEIGHT} AS score FROM isnad_postings p JOIN q USING (term) "
                f"WHERE p.term = ANY(%s) {allowed} GROUP BY p.row)",
                [list(idf), list(idf.values()), avgdl, scored, *(args if filtered else [])])

    @classmethod
    def _legs(cls, query_vector: np.ndarray | None, scored: list[str], common: list[str], idf: dict[str, float],
              avgdl: float, floor: float, where: str, args: list, filtered: bool, n: int) -> tuple[str, list]:
        """Both legs in one statement: rows ('d' | 'b', row, score). The ``common`` terms (MaxScore, as in
        rag/store/bm25.py) are looked up, by probes of the postings' primary key, only for the chunks whose
        score over ``scored`` plus the common terms' idfs reaches the n-th best (or ``floor``, known to be under
        the n-th best of all terms): the ranking stays exact."""
        parts, params = [], []
        if query_vector is not None:
            q = np.asarray(query_vector, dtype=np.float32)
            parts.append(f"(SELECT 'd', c.row, -(c.embedding <#> %s::vector) FROM isnad_chunks c WHERE {where} "
                         "ORDER BY c.embedding <#> %s::vector LIMIT %s)")
            params += [q, *args, q, n]
        if not scored:
            return " UNION ALL ".join(parts), params
        ctes, cte_params = cls._lexical(scored, idf, avgdl, where, args, filtered)
        if not common:
            parts.append("(SELECT 'b', row, score FROM s ORDER BY score DESC, row LIMIT %s)")
            params.append(n)
        else:
            ctes += (f", kth AS (SELECT coalesce({NTH_BEST}, 0) AS score), "
                     "reach AS (SELECT s.row, s.score FROM s, kth WHERE s.score + %s >= greatest(kth.score, %s)), "
                     f"more AS (SELECT p.row, {WEIGHT} AS score FROM isnad_postings p JOIN q USING (term) "
                     "WHERE p.term = ANY(%s) AND p.row = ANY(ARRAY(SELECT row FROM reach)) GROUP BY p.row)")
            cte_params += [n - 1, sum(idf[w] for w in common), floor, avgdl, common]
            parts.append("(SELECT 'b', r.row, r.score + coalesce(m.score, 0) AS score FROM reach r "
                         "LEFT JOIN more m USING (row) ORDER BY 3 DESC, 2 LIMIT %s)")
            params.append(n)
        return f"WITH {ctes} " + " UNION ALL ".join(parts), cte_params + params

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
