"""The PostgreSQL store's BM25 leg: postings sealed into segments, merged in the background, scored on the server."""

from __future__ import annotations

import numpy as np
import psycopg
from psycopg import sql

from rag.errors import StoreError
from rag.store.bm25 import Postings, Segment, mergeable
from rag.store.postgres_sql import DEAD_ROWS, PACKED, _rows, _sealed, _segment
from rag.types import Filters


class LexicalSegments:
    """BM25 postings and segments, as methods of `PostgresStore` (which mixes this in)."""

    def _seal(self, cur) -> None:
        """Inside a writer's transaction: every recent posting into one new segment."""
        segment = _segment(
            cur.execute(
                f"SELECT term, 0, {PACKED} FROM isnad_postings GROUP BY term", binary=True
            ).fetchall(),
            ">i8",
            ">i4",
        )
        if len(segment):
            self._write_segment(cur, segment)
        cur.execute("DELETE FROM isnad_postings")
        cur.execute("UPDATE isnad_stats SET unsealed = 0")

    def _merge_due(self, cur) -> None:
        """Inside a writer's transaction: the newest segments merged as they multiply (ten of a size into one
        of the next, ``bm25.mergeable``), so a query reads a few dozen segments however many uploads came
        before, and each posting is rewritten O(log n) times."""
        sizes = cur.execute(
            "SELECT seg, sum(octet_length(rows)) / 4 FROM isnad_segments GROUP BY seg ORDER BY seg"
        ).fetchall()
        while n := mergeable([int(size) for _, size in sizes]):
            merged = self._merge(cur, [seg for seg, _ in sizes[-n:]])
            sizes[-n:] = [(None, merged)]

    def _merge(self, cur, segs: list[int]) -> int:
        """Inside a writer's transaction: segments ``segs`` rewritten as one, without their dead rows, which
        leave ``isnad_dead`` (a row lives in one segment only). Returns the new segment's postings."""
        parts = _sealed(
            cur.execute(
                "SELECT seg, term, base, rows, tf, dl FROM isnad_segments WHERE seg = ANY(%s)",
                (segs,),
                binary=True,
            ).fetchall()
        )
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
        with cur.copy(
            "COPY isnad_segments (term, seg, base, rows, tf, dl) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["text", "int4", "int8", "bytea", "bytea", "bytea"])
            for term, a, b in zip(segment.terms, segment.indptr[:-1], segment.indptr[1:]):
                copy.write_row(
                    (str(term), seg, base, offsets[a:b].tobytes(), tf[a:b].tobytes(), dl[a:b].tobytes())
                )

    def _lexical(
        self, snapshot: str, words: list[str], n: int, filters: Filters | None
    ) -> list[tuple[int, float]]:
        """The BM25 leg on its own connection, in the dense leg's snapshot (``pg_export_snapshot``)."""
        if self._lexical_db is None:
            self._lexical_db = self._connect()
        db = self._lexical_db
        with db.transaction():
            db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            db.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
            return self._bm25(db, words, n, filters)

    def _send_lexical(
        self, db: psycopg.Connection, words: list[str], filters: Filters | None
    ) -> dict[str, psycopg.Cursor]:
        """Cursors, sent but not yet read: corpus statistics, the words' document frequencies, their sealed and
        recent postings, the dead rows, and under a filter the filter columns of rows added since the last
        filtered query (rows only grow) and the rows of the documents asked for."""
        queries = {
            "stats": ("SELECT n_chunks, total_terms FROM isnad_stats", ()),
            "df": ("SELECT term, df FROM isnad_terms WHERE term = ANY(%s)", (words,)),
            "sealed": (
                "SELECT seg, term, base, rows, tf, dl FROM isnad_segments WHERE term = ANY(%s)",
                (words,),
            ),
            "recent": (
                f"SELECT term, 0, {PACKED} FROM isnad_postings WHERE term = ANY(%s) GROUP BY term",
                (words,),
            ),
            "dead": (DEAD_ROWS, ()),
        }
        if filters:
            queries["columns"] = (
                "SELECT row, outlet_key, date FROM isnad_chunks WHERE row >= %s ORDER BY row",
                (len(self._columns),),
            )
        if filters and filters.doc_ids is not None:
            queries["doc_rows"] = (
                "SELECT row FROM isnad_chunks WHERE doc_id = ANY(%s)",
                (sorted(filters.doc_ids),),
            )
        sent = {}
        for name, (query, params) in queries.items():
            sent[name] = db.cursor(binary=True)
            sent[name].execute(query, params)
        return sent

    def _bm25(
        self, db: psycopg.Connection, words: list[str], n: int, filters: Filters | None
    ) -> list[tuple[int, float]]:
        """The n best chunks by BM25 in ``db``'s transaction, scored by rag/store/bm25.py over the postings
        ``_send_lexical`` reads in one round trip."""
        with db.pipeline():
            got = self._send_lexical(db, words, filters)
        postings = Postings(
            _sealed(got["sealed"].fetchall()),
            [_segment(got["recent"].fetchall(), ">i8", ">i4")],
            _rows(got["dead"].fetchone()[0]),
        )
        allowed = None
        if filters:
            self._columns.catch_up(got["columns"].fetchall())
            allowed = self._columns.mask(
                filters, [r for (r,) in got["doc_rows"]] if "doc_rows" in got else None
            )
        return postings.search(words, dict(got["df"].fetchall()), *got["stats"].fetchone(), n, allowed)
