"""The PostgreSQL store's schema, its SQL pieces, and the helpers that pack and unpack rows and postings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import psycopg

from rag.store.base import outlet_key
from rag.store.bm25 import Segment
from rag.types import Filters

HNSW_M, HNSW_EF_CONSTRUCTION = 32, 128  # denser than pgvector's 16, 64: recall@10 1.0 at 1M (docs/stores.md)

WRITER_LOCK = 0x15A4D  # pg_advisory_xact_lock key: one writer at a time


# sealed segments and rows outside the graph: applied once to a database written without them
SCHEMA = (
    """
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
CREATE TABLE IF NOT EXISTS isnad_postings(term text NOT NULL,
    row bigint NOT NULL REFERENCES isnad_chunks(row) ON DELETE CASCADE,
    tf int NOT NULL, n_terms int NOT NULL, PRIMARY KEY (term, row) INCLUDE (tf, n_terms));
CREATE INDEX IF NOT EXISTS isnad_postings_row ON isnad_postings(row);
CREATE TABLE IF NOT EXISTS isnad_terms(term text PRIMARY KEY, df int NOT NULL);
CREATE TABLE IF NOT EXISTS isnad_stats(id int PRIMARY KEY, n_chunks bigint NOT NULL, total_terms bigint NOT NULL);
INSERT INTO isnad_stats VALUES (1, 0, 0) ON CONFLICT DO NOTHING;
"""
    + """
CREATE TABLE IF NOT EXISTS isnad_chunk_terms(row bigint PRIMARY KEY REFERENCES isnad_chunks(row) ON DELETE CASCADE,
    terms text[] NOT NULL);
CREATE TABLE IF NOT EXISTS isnad_segments(term text NOT NULL, seg int NOT NULL, base bigint NOT NULL,
    rows bytea NOT NULL, tf bytea NOT NULL, dl bytea NOT NULL, PRIMARY KEY (term, seg));
ALTER TABLE isnad_segments ALTER rows SET STORAGE EXTERNAL, ALTER tf SET STORAGE EXTERNAL,
    ALTER dl SET STORAGE EXTERNAL;
CREATE TABLE IF NOT EXISTS isnad_dead(row bigint PRIMARY KEY);
ALTER TABLE isnad_stats ADD COLUMN IF NOT EXISTS segments int NOT NULL DEFAULT 0,
                        ADD COLUMN IF NOT EXISTS unsealed bigint NOT NULL DEFAULT 0;
"""
    + """
ALTER TABLE isnad_chunks ADD COLUMN IF NOT EXISTS graphed boolean NOT NULL DEFAULT true;
ALTER TABLE isnad_chunks ALTER graphed SET DEFAULT false;
CREATE INDEX IF NOT EXISTS isnad_chunks_ungraphed ON isnad_chunks(row) WHERE NOT graphed;
"""
)


SEGMENTS = SCHEMA[
    SCHEMA.index("CREATE TABLE IF NOT EXISTS isnad_chunk_terms") : SCHEMA.index("ALTER TABLE isnad_chunks")
]


GRAPHED = SCHEMA[SCHEMA.index("ALTER TABLE isnad_chunks") :]


# the graph holds the rows marked graphed: new rows are searched exactly until a background batch adds them
HNSW = (
    "CREATE INDEX {} isnad_chunks_hnsw ON isnad_chunks USING hnsw (embedding vector_ip_ops) "
    f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION}) WHERE graphed"
)


DEAD_ROWS = (
    "SELECT string_agg(int8send(row), '') FROM isnad_dead"  # every dead row, packed (``_rows`` reads it)
)


# a term's postings, whether recent rows or a sealed segment: rows ascending, each field packed
PACKED = (
    "string_agg(int8send(row), '' ORDER BY row), string_agg(int4send(tf), '' ORDER BY row), "
    "string_agg(int4send(n_terms), '' ORDER BY row)"
)


@contextmanager
def _writing(db: psycopg.Connection) -> Iterator[psycopg.Cursor]:
    """A cursor in one transaction on ``db`` holding the writers' lock (released when it ends)."""
    with db.transaction():
        cur = db.cursor()
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
        yield cur


def _where(filters: Filters | None, table: str) -> tuple[str, list]:
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
