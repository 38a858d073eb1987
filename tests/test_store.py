"""The store contract (rag/store/base.py), run against every engine: replace, delete, filters, exact dense
results, BM25, reopening, and writers in other processes. Logic tests use small random vectors; the
seed test uses the real index's vectors and tokens."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import psycopg
import pytest

from rag.store.base import StoreInfo
from rag.store.sqlite import SEAL_AT, SqliteStore
from rag.text.arabic import bm25_tokens
from rag.types import Chunk, Document, Filters
from tests.conftest import fresh_database

DIM = 16
ROOT = Path(__file__).resolve().parents[1]


def _doc(
    i: int,
    outlet: str = "العربي",
    date: str | None = "2021-06-05",
    source: str | None = None,
    words: str = "",
) -> tuple[Document, list[Chunk]]:
    text = f"الخبر رقم {i} عن انسحاب القوات {words}. وقال المتحدث إن المحادثات مستمرة {i}."
    half = text.index(".") + 1
    doc = Document(
        f"d{i:04d}", source or f"seeds/{i:03d}.txt", text, f"عنوان {i}", outlet, date, "ar", [(0, len(text))]
    )
    chunks = [
        Chunk(f"d{i:04d}:0", doc.doc_id, 0, half, text[:half], [(0, half)], 10),
        Chunk(f"d{i:04d}:1", doc.doc_id, half + 1, len(text), text[half + 1 :], [(half + 1, len(text))], 8),
    ]
    return doc, chunks


def _vectors(n: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _put(store, i: int, **kw) -> list[int]:
    doc, chunks = _doc(i, **kw)
    return store.upsert(doc, chunks, _vectors(len(chunks), i), [bm25_tokens(c.text) for c in chunks])


@pytest.fixture(params=["sqlite", "sqlite-hnsw", "postgresql"])
def engine(request, tmp_path):
    """(where, opener, code a writer process uses to open it) for each engine; "sqlite-hnsw" seals every
    4 vectors into an HNSW part and PostgreSQL adds every 4 new rows to its graph (both in the background),
    so the contract holds for graphs as for exact search, and while rows move from one to the other."""
    if request.param.startswith("sqlite"):
        where, seal_at = str(tmp_path / "store"), 4 if request.param == "sqlite-hnsw" else SEAL_AT
        return (
            where,
            lambda info=None: SqliteStore(Path(where), info, seal_at),
            f"from rag.store.sqlite import SqliteStore; from pathlib import Path; "
            f"store = SqliteStore(Path({where!r}), seal_at={seal_at})",
        )
    from rag.store.postgres import PostgresStore

    where = fresh_database(request.getfixturevalue("postgres"))
    return (
        where,
        lambda info=None: PostgresStore(where, info, graph_at=4),
        f"from rag.store.postgres import PostgresStore; store = PostgresStore({where!r})",
    )


@pytest.fixture
def open_store(engine):
    """A function opening the engine's store (again, after a close)."""
    info = StoreInfo("test-model", DIM, {"max_tokens": 256, "overlap_sentences": 1})
    opened = []

    def open_(new: bool = True):
        store = engine[1](info if new else None)
        opened.append(store)
        return store

    yield open_
    for s in opened:
        s.close()


def test_upsert_fetch_and_info(open_store):
    store = open_store()
    rows = _put(store, 1)
    got = store.fetch(rows)
    assert (
        [g.row for g in got] == rows and got[0].doc.doc_id == "d0001" and got[1].chunk.chunk_id == "d0001:1"
    )
    assert got[0].doc.text[got[0].chunk.start : got[0].chunk.end] == got[0].chunk.text
    info = store.info()
    assert (info.model_id, info.dim, info.n_docs, info.n_chunks) == ("test-model", DIM, 1, 2)


def test_a_new_version_of_a_source_replaces_the_old(open_store):
    store = open_store()
    old = _put(store, 1, source="seeds/same.txt")
    new = _put(store, 2, source="seeds/same.txt")
    assert store.fetch(old) == [] and len(store.fetch(new)) == 2
    assert [d.doc_id for d in store.documents()] == ["d0002"] and store.info().n_chunks == 2
    legs = store.search(_vectors(1, 1)[0], bm25_tokens("الخبر رقم 1"), 10)
    assert not set(old) & {r for r, _ in legs.dense + legs.bm25}


def test_delete_removes_from_both_legs(open_store):
    store = open_store()
    keep, gone = _put(store, 1), _put(store, 2)
    assert store.delete(["d0002"]) == 2
    legs = store.search(_vectors(1, 2)[0], bm25_tokens("الخبر رقم 2"), 10)
    assert {r for r, _ in legs.dense} == set(keep) and not set(gone) & {r for r, _ in legs.bm25}
    assert [d.doc_id for d in store.documents()] == ["d0001"]


def test_dense_is_exact(open_store):
    store = open_store()
    rows, vecs = [], []
    for i in range(1, 21):
        doc, chunks = _doc(i)
        v = _vectors(len(chunks), i)
        rows += store.upsert(doc, chunks, v, [bm25_tokens(c.text) for c in chunks])
        vecs.append(v)
    q = _vectors(1, 99)[0]
    scores = np.vstack(vecs) @ q
    exact = [rows[i] for i in np.argsort(-scores)[:10]]
    assert [r for r, _ in store.search(q, None, 10).dense] == exact


def test_bm25_ranks_the_rare_term_first(open_store):
    store = open_store()
    for i in range(1, 8):
        _put(store, i)
    rare = _put(store, 8, words="قاعدة حرير في أربيل")
    legs = store.search(None, bm25_tokens("قاعدة حرير"), 5)
    assert legs.bm25[0][0] == rare[0] and legs.dense == []
    assert all(s > 0 for _, s in legs.bm25)


def test_filters_apply_to_both_legs(open_store):
    store = open_store()
    a = _put(store, 1, outlet="العربي", date="2021-06-05")
    b = _put(store, 2, outlet="الجزيرة", date="2024-01-25")
    c = _put(store, 3, outlet="العربى", date="2021-08-08")  # the same outlet, written with «ى»
    q, words = _vectors(1, 5)[0], bm25_tokens("انسحاب القوات المحادثات")
    cases = {
        Filters(outlet="العربي"): a + c,
        Filters(date_from="2021-07-01"): b + c,
        Filters(date_to="2021-12-31", outlet="العربي"): a + c,
        Filters(doc_ids=frozenset({"d0002"})): b,
        Filters(doc_ids=frozenset()): [],
    }
    for f, want in cases.items():
        legs = store.search(q, words, 10, f)
        assert {r for r, _ in legs.dense} == set(want) and {r for r, _ in legs.bm25} == set(want), f
    # a date between the others, after filtered queries
    d = _put(store, 4, outlet="الجزيرة", date="2021-07-15")
    e = _put(store, 5, outlet="الجزيرة", date=None)  # undated: never inside a date range
    for f, want in {
        Filters(date_from="2021-07-01", date_to="2021-12-31"): c + d,
        Filters(date_from="2021-07-15", date_to="2021-07-15"): d,
        Filters(outlet="الجزيرة"): b + d + e,
    }.items():
        legs = store.search(q, words, 10, f)
        assert {r for r, _ in legs.dense} == set(want) and {r for r, _ in legs.bm25} == set(want), f
    store.delete(["d0004", "d0005"])
    assert [d.doc_id for d in store.documents(Filters(outlet="العربي"))] == ["d0001", "d0003"]
    assert [d.doc_id for d in store.documents(limit=1, after="d0001")] == ["d0002"]


def test_deleted_rows_are_held_until_compaction_reclaims_them(open_store):
    store = open_store()
    for i in range(1, 7):
        _put(store, i)
    store.compact()  # every row into a part (SQLite) or a sealed segment (PostgreSQL): deletes now leave rows behind
    assert store.held_deleted() == 0
    store.delete(["d0002", "d0005"])
    assert store.held_deleted() == 4
    q, words = _vectors(1, 3)[0], bm25_tokens("انسحاب القوات المتحدث")
    before = store.search(q, words, 20)
    assert len(before.dense) == len(before.bm25) == 8
    store.compact()
    assert store.held_deleted() == 0
    after = store.search(q, words, 20)
    assert after.dense == before.dense and [r for r, _ in after.bm25] == [r for r, _ in before.bm25]
    assert store.advice() == []  # a small graph fits the test server's buffers


def test_reopening_gives_the_same_results(open_store):
    store = open_store()
    for i in range(1, 6):
        _put(store, i)
    store.delete(["d0003"])
    q, words = _vectors(1, 7)[0], bm25_tokens("المتحدث المحادثات")
    before = store.search(q, words, 10)
    store.close()
    again = open_store(new=False)
    after = again.search(q, words, 10)
    for leg in ("dense", "bm25"):
        b, a = getattr(before, leg), getattr(after, leg)
        assert [r for r, _ in a] == [r for r, _ in b] and [s for _, s in a] == pytest.approx(
            [s for _, s in b]
        )
    assert again.info().n_chunks == 8


def test_orphan_part_file_from_a_crash_is_dropped(tmp_path):
    info = StoreInfo("test-model", DIM, {"max_tokens": 256, "overlap_sentences": 1})
    store = SqliteStore(tmp_path / "store", info)
    _put(store, 1)
    store.close()
    stray = tmp_path / "store" / "vectors" / "part-999999.faiss"
    stray.write_bytes(b"half-written")
    again = SqliteStore(tmp_path / "store")
    assert not stray.exists() and again.info().n_chunks == 2
    again.close()


_WRITER = """
import sys
import numpy as np
sys.path.insert(0, {root!r})
from rag.types import Chunk
from rag.types import Document
{open}
for i in range({first}, {first} + 10):
    text = f"نص تجريبي رقم {{i}} للكتابة المتزامنة."
    doc = Document(f"w{{i:04d}}", f"w/{{i}}.txt", text, None, None, None, "ar", [(0, len(text))])
    chunk = Chunk(f"w{{i}}:0", doc.doc_id, 0, len(text), text, [(0, len(text))], 5)
    store.upsert(doc, [chunk], np.random.default_rng(i).standard_normal((1, {dim})).astype(np.float32), [text.split()])
"""


def test_writers_in_other_processes_neither_block_forever_nor_lose_work(engine, open_store):
    reader = open_store()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(_WRITER.format(root=str(ROOT), open=engine[2], first=first, dim=DIM)),
            ]
        )
        for first in (0, 100)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert reader.info().n_docs == 20  # both writers' documents, seen by a reader opened before them
    legs = reader.search(_vectors(1, 3)[0], ["107"], 50)
    assert len(legs.dense) == 20 and [r for r, _ in legs.bm25] == [
        r for r, _ in reader.search(None, ["107"], 5).bm25
    ]
    assert len(legs.bm25) == 1 and "107" in reader.fetch([legs.bm25[0][0]])[0].chunk.text


def test_seed_index_gives_the_same_rankings(folders_isnad, engine):
    """The real seed vectors and tokens: dense results identical to the generation-folder index's exact
    search, and BM25 rankings identical to bm25s's in both engines (one formula, exact frequencies)."""
    index = folders_isnad.index
    store = engine[1](StoreInfo(index.model_id, index.dim, index.chunker.to_dict()))
    row_of: dict[int, int] = {}
    for doc in index.docs.values():
        pos = [i for i, c in enumerate(index.chunks) if c.doc_id == doc.doc_id]
        rows = store.upsert(
            doc,
            [index.chunks[i] for i in pos],
            index.vectors[pos],
            [index.bm25_tokens_of(index.chunks[i]) for i in pos],
        )
        row_of.update(zip(pos, rows))
    questions = [
        "متى اتفق العراق والولايات المتحدة على خطة لإعادة انتشار قوات التحالف؟",
        "ماذا قال البنتاغون عن المحادثات مع العراق؟",
        "قاعدة عين الأسد",
        "كتائب حزب الله",
        "انسحاب القوات القتالية الأمريكية",
        "How many coalition troops remain in Iraq?",
    ]
    same_first = 0
    for q in questions:
        qv = folders_isnad.embedder.embed_queries([q])[0]
        legs = store.search(qv, bm25_tokens(q), 10)
        assert [r for r, _ in legs.dense] == [row_of[i] for i, _ in index.dense_search(qv, 10, None)]
        old, new = (
            [row_of[i] for i, _ in index.bm25_search(bm25_tokens(q), 10, None)],
            [r for r, _ in legs.bm25],
        )
        assert new == old, (q, old, new)
        same_first += bool(old)
    assert same_first >= 5, same_first  # the questions do find chunks by their words
    store.close()


def test_compaction_keeps_results_and_other_readers_follow(tmp_path):
    info = StoreInfo("test-model", DIM, {"max_tokens": 256, "overlap_sentences": 1})
    store = SqliteStore(tmp_path / "store", info)
    reader = SqliteStore(tmp_path / "store")
    for i in range(1, 9):
        _put(store, i)
    store.delete(["d0002", "d0005"])
    _put(store, 2)  # deleted, then back: new rows
    q, words = _vectors(1, 11)[0], bm25_tokens("انسحاب القوات")
    before = store.search(q, words, 20)
    store.compact()
    # one part
    assert sorted(p.suffix for p in (store.folder / "vectors").iterdir()) == [
        ".faiss",
        ".json",  # the part's checksums
        ".npy",
        ".npy",
        ".npz",
    ]
    for s in (store, reader):
        after = s.search(q, words, 20)
        assert [r for r, _ in after.dense] == [r for r, _ in before.dense]
        assert [r for r, _ in after.bm25] == [r for r, _ in before.bm25]
    _put(store, 9)
    assert reader.info().n_docs == 8 and len(reader.search(q, None, 50).dense) == 16


def test_a_seal_runs_after_the_upload_and_a_failed_one_loses_nothing(tmp_path, monkeypatch, caplog):
    """The upload that fills ``recent`` starts the seal in the background; when writing the part fails (a full
    disk), the recent rows stay searchable and the next upload seals them."""
    from rag.store.vectors import Sealed

    info = StoreInfo("test-model", DIM, {"max_tokens": 256, "overlap_sentences": 1})
    store = SqliteStore(tmp_path / "store", info, seal_at=8)
    write = Sealed.write

    def full_disk(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Sealed, "write", staticmethod(full_disk))
    for i in range(1, 5):
        _put(store, i)
    store.settle()
    q, words = _vectors(1, 11)[0], bm25_tokens("انسحاب القوات")
    assert "No space left" in caplog.text and _parts(store) == 0
    assert store._db.execute("SELECT count(*) FROM recent").fetchone()[0] == 8
    before = store.search(q, words, 20)
    assert len(before.dense) == 8 and len(before.bm25) == 4
    monkeypatch.setattr(Sealed, "write", staticmethod(write))
    _put(store, 5)
    store.settle()
    assert _parts(store) == 1 and store._db.execute("SELECT count(*) FROM recent").fetchone()[0] == 0
    for s in (store, SqliteStore(tmp_path / "store")):
        after = s.search(q, words, 20)
        assert [r for r, _ in after.dense if r <= 8] == [r for r, _ in before.dense]
        assert len(after.dense) == 10 and s.check() == []
        s.close()


def test_a_damaged_part_file_is_found_by_its_checksum(tmp_path):
    """Random bytes inside a sealed graph keep its size: doctor's check finds them by checksum. A postings
    file cut short is refused at open, by size, with the repair named."""
    from rag.errors import StoreError

    info = StoreInfo("test-model", DIM, {"max_tokens": 256, "overlap_sentences": 1})
    store = SqliteStore(tmp_path / "store", info, seal_at=8)
    for i in range(1, 5):
        _put(store, i)
    store.settle()
    assert _parts(store) == 1 and store.check() == []
    graph, _, _, postings, sums = store._part_files(1)
    assert sums.exists()
    store.close()
    data = bytearray(graph.read_bytes())
    data[-200:-136] = bytes(range(64))  # inside the stored vectors, at the end: FAISS reads it without a word
    graph.write_bytes(bytes(data))
    reopened = SqliteStore(tmp_path / "store")  # same size: opens
    assert any("does not match its checksum" in p for p in reopened.check())
    reopened.close()
    postings.write_bytes(postings.read_bytes()[:-40])
    with pytest.raises(StoreError, match="wrong size"):
        SqliteStore(tmp_path / "store")


def _parts(store: SqliteStore) -> int:
    return store._db.execute("SELECT count(*) FROM parts").fetchone()[0]


def test_background_work_asked_for_while_it_runs_runs_once_more():
    """A seal or a graph batch asked for while one runs is not lost, and never runs twice at once."""
    import threading

    from rag.store.base import Background

    runs, started, release = [], threading.Event(), threading.Event()

    def work() -> None:
        runs.append(1)
        started.set()
        release.wait(10)

    background = Background(work, "test")
    background.request()
    assert started.wait(10)
    background.request()
    background.request()
    release.set()
    background.wait()
    assert len(runs) == 2
    background.request()
    background.wait()
    assert len(runs) == 3


def test_a_store_knows_when_another_was_swapped_into_its_folder(tmp_path):
    info = StoreInfo("test-model", DIM, {"max_tokens": 256, "overlap_sentences": 1})
    live = SqliteStore(tmp_path / "store", info)
    assert not live.replaced()
    SqliteStore(tmp_path / "store.next", info).close()
    (tmp_path / "store").rename(tmp_path / "store.old")
    (tmp_path / "store.next").rename(tmp_path / "store")  # what a rebuild or repair does
    assert live.replaced()
    live.close()


def test_postgresql_bulk_fill_matches_row_by_row_and_keeps_its_indexes(postgres):
    """An empty database filled in one large upsert gets its HNSW graph built after the rows and its postings
    written as one sealed segment; it answers exactly as one filled row by row (all postings recent), and later
    writes keep every index, the postings' cascade, and deletions out of the segment's results."""
    from rag.store.postgres import PostgresStore

    info = StoreInfo("test-model", DIM, {"max_tokens": 256})
    items = []
    for i in range(1, 31):
        doc, chunks = _doc(i, outlet=f"منفذ {i % 3}", date=f"202{i % 4}-01-01", words="الموصل" * (i % 2))
        items.append((doc, chunks, _vectors(len(chunks), i), [bm25_tokens(c.text) for c in chunks]))
    bulk = PostgresStore(fresh_database(postgres), info, bulk_at=10, seal_at=100)
    one = PostgresStore(fresh_database(postgres), info, bulk_at=10**9, seal_at=10**9)
    try:
        doc, chunks, _, tokens = items[-1]
        with pytest.raises(psycopg.Error):  # a failed fill rolls back, its dropped index with it
            bulk.upsert_many(
                items[:-1] + [(doc, chunks, np.ones((len(chunks), DIM + 1), np.float32), tokens)]
            )
        assert bulk.info().n_chunks == 0 and bulk.search(None, ["انسحاب"], 5).bm25 == []
        assert _indexes(bulk) == _indexes(one)
        bulk.upsert_many(items)
        for item in items:
            one.upsert_many([item])
        assert _count(bulk, "isnad_postings") == 0 < _count(bulk, "isnad_segments")
        assert _count(one, "isnad_segments") == 0 < _count(one, "isnad_postings")
        for f in (None, Filters(outlet="منفذ 1"), Filters(date_from="2022-01-01")):
            for q in range(3):
                a = bulk.search(_vectors(1, 100 + q)[0], bm25_tokens("انسحاب القوات من الموصل 7"), 20, f)
                b = one.search(_vectors(1, 100 + q)[0], bm25_tokens("انسحاب القوات من الموصل 7"), 20, f)
                assert a.bm25 and [s for _, s in a.dense] == pytest.approx([s for _, s in b.dense])
                # rows differ: the failed fill used ids
                assert [s for _, s in a.bm25] == pytest.approx([s for _, s in b.bm25])
        assert (
            {"isnad_chunks_hnsw", "isnad_postings_pkey", "isnad_postings_row"}
            <= _indexes(bulk)
            == _indexes(one)
        )
        _put(bulk, 40)
        for store in (bulk, one):
            store.delete(["d0001", "d0007"])
        assert _count(bulk, "isnad_dead") == 4 and _count(one, "isnad_dead") == 0
        assert _count(bulk, "isnad_postings p LEFT JOIN isnad_chunks c USING (row) WHERE c.row IS NULL") == 0
        assert bulk.info().n_chunks == 58 and bulk.search(None, bm25_tokens("الخبر رقم 40"), 1).bm25
        _put(one, 40)
        query = bm25_tokens("الخبر رقم 7 انسحاب القوات من الموصل")
        assert [s for _, s in bulk.search(None, query, 60).bm25] == pytest.approx(
            [s for _, s in one.search(None, query, 60).bm25]
        )
    finally:
        bulk.close()
        one.close()


def _indexes(store) -> set[str]:
    return {
        r for (r,) in store._db.execute("SELECT indexname FROM pg_indexes WHERE tablename LIKE 'isnad_%'")
    }


def _count(store, table: str) -> int:
    return store._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_postgresql_bm25_over_sealed_segments_and_recent_rows_is_exact(postgres):
    """BM25 over several sealed segments, recent rows and deletions in both ranks exactly as bm25s's formula
    chunk by chunk, on Zipf-distributed words (MaxScore's lookups included), unfiltered and under a filter."""
    from rag.store.postgres import PostgresStore
    from tests.test_bm25 import _reference

    words, items = _zipf_items()
    store = PostgresStore(fresh_database(postgres), StoreInfo("test-model", DIM, {}), seal_at=40_000)
    try:
        rows = []
        for batch in [items[b : b + 25] for b in range(0, 275, 25)] + [[item] for item in items[275:]]:
            rows += store.upsert_many(batch)
            store.settle()  # sealed in the background: waited for, so the segments are the same each run
        assert _count(store, "(SELECT DISTINCT seg FROM isnad_segments) s") >= 3 and _count(
            store, "isnad_postings"
        )
        store.delete([f"d{d:04d}" for d in range(0, 300, 7)])
        assert _count(store, "isnad_dead") and _count(
            store, "isnad_postings p JOIN isnad_chunks c USING (row)"
        )
        live = {r: w for d, rs in enumerate(rows) if d % 7 for r, w in zip(rs, words[d * 10 : d * 10 + 10])}
        even = {r for d, rs in enumerate(rows) if d % 2 == 0 for r in rs}
        for rare in ("w150", "w400", "w1200"):
            query = [rare, "w0", "w1", "w2", "w3"]
            for k in (1, 10, 50):
                got, ref = store.search(None, query, k).bm25, _reference(live, query, k)
                assert [r for r, _ in got] == [r for r, _ in ref] and np.allclose(
                    [s for _, s in got], [s for _, s in ref]
                )
            got = store.search(None, query, 10, Filters(outlet="منفذ 0")).bm25
            assert [r for r, _ in got] == [r for r, _ in _reference(live, query, 10, only=even.__contains__)]
    finally:
        store.close()


def test_postgresql_new_rows_are_searched_exactly_until_the_background_adds_them_to_the_graph(postgres):
    """Uploads leave their rows outside the HNSW graph (an upload does not pay for graph inserts); both kinds
    are searched, filtered or not; once ``graph_at`` wait, a background batch adds them, and the graph's
    branch of the query can use the partial index."""
    from rag.store.postgres import PostgresStore

    store = PostgresStore(fresh_database(postgres), StoreInfo("test-model", DIM, {}), graph_at=12)
    vectors, outlets = {}, {}
    try:

        def exact_matches(f: Filters | None = None) -> None:
            for seed in range(3):
                q = _vectors(1, 50 + seed)[0]
                allowed = [r for r in vectors if f is None or outlets[r] == f.outlet]
                want = sorted(allowed, key=lambda r: -float(vectors[r] @ q))[:5]
                assert [r for r, _ in store.search(q, None, 5, f).dense] == want

        def put(i: int) -> None:
            outlet = "منفذ" if i % 2 else "آخر"
            doc, chunks = _doc(i, outlet=outlet)
            for r, v in zip(
                store.upsert(doc, chunks, _vectors(len(chunks), i), [["w"]] * len(chunks)),
                _vectors(len(chunks), i),
            ):
                vectors[r], outlets[r] = v, outlet

        for i in range(1, 6):
            put(i)
        assert _count(store, "isnad_chunks WHERE graphed") == 0
        exact_matches(), exact_matches(Filters(outlet="منفذ"))
        put(6)  # the 12th row: the background is asked to graph every row outside the graph
        store.settle()  # (rows uploaded while it runs may stay outside until the next request)
        assert _count(store, "isnad_chunks WHERE NOT graphed") == 0
        put(7)
        exact_matches(), exact_matches(Filters(outlet="منفذ"))
        store._db.execute("SET enable_seqscan = off")
        plan = store._db.execute(
            "EXPLAIN SELECT row FROM isnad_chunks WHERE graphed ORDER BY embedding <#> %s::vector LIMIT 5",
            (_vectors(1, 1)[0],),
        ).fetchall()
        assert "isnad_chunks_hnsw" in str(plan)
    finally:
        store.close()


def _zipf_items() -> tuple[list[list[str]], list]:
    """300 documents of ten chunks, each chunk's tokens Zipf-distributed words (tests/test_bm25.py), two outlets."""
    from tests.test_bm25 import zipf_chunks

    words, items = zipf_chunks(), []
    for d in range(300):
        doc, _ = _doc(d, outlet=f"منفذ {d % 2}")
        chunks = [Chunk(f"{doc.doc_id}:{i}", doc.doc_id, 0, 1, "x", [(0, 1)], 1) for i in range(10)]
        items.append((doc, chunks, _vectors(10, d), words[d * 10 : d * 10 + 10]))
    return words, items


def test_postgresql_segments_merge_as_they_multiply_and_drop_their_dead_rows(postgres):
    """Ten segments of a size become one, and the rows deleted from them leave the dead list; compaction
    leaves one segment and no dead rows; BM25 stays exact against bm25s's formula throughout."""
    from rag.store.postgres import PostgresStore
    from tests.test_bm25 import _reference

    words, items = _zipf_items()
    store = PostgresStore(fresh_database(postgres), StoreInfo("test-model", DIM, {}), seal_at=5_000)
    rows: list[list[int]] = []
    gone = set()

    def segments_and_dead() -> tuple[int, int]:
        return _count(store, "(SELECT DISTINCT seg FROM isnad_segments) s"), _count(store, "isnad_dead")

    def exact() -> None:
        live = {
            r: w
            for d, rs in enumerate(rows)
            if d not in gone
            for r, w in zip(rs, words[d * 10 : d * 10 + 10])
        }
        for query in (["w150", "w0", "w1", "w2"], ["w900", "w3"], ["w1", "w2"]):
            got, ref = store.search(None, query, 20).bm25, _reference(live, query, 20)
            assert [r for r, _ in got] == [r for r, _ in ref] and np.allclose(
                [s for _, s in got], [s for _, s in ref]
            )

    try:
        for batch in range(9):  # each batch of 250 chunks (~12,000 postings) becomes a segment of its own
            rows += store.upsert_many(items[batch * 25 : batch * 25 + 25])
            store.settle()  # merged in the background
        gone = set(range(0, 225, 7))
        store.delete([f"d{d:04d}" for d in sorted(gone)])
        assert segments_and_dead() == (9, 10 * len(gone))
        exact()
        # the tenth of its size: all ten merged, their dead rows dropped
        rows += store.upsert_many(items[225:250])
        store.settle()
        assert segments_and_dead() == (1, 0) and _count(store, "isnad_postings") == 0
        exact()
        rows += [store.upsert_many([item])[0] for item in items[250:260]]  # ten single uploads: recent rows
        store.settle()
        store.delete(["d0003", "d0251"])
        gone |= {3, 251}
        assert _count(store, "isnad_postings") and segments_and_dead()[1] == 10
        exact()
        store.compact()
        assert segments_and_dead() == (1, 0) and _count(store, "isnad_postings") == 0
        exact()
    finally:
        store.close()


def test_postgresql_database_from_before_segments_is_upgraded_on_open(postgres):
    """A database whose postings are all rows, without chunk terms (as sessions 7–11 wrote it), is upgraded
    when opened: postings sealed, terms gathered, the same rankings, and deletions still keep df exact."""
    from rag.store.postgres import PostgresStore

    where, info = fresh_database(postgres), StoreInfo("test-model", DIM, {})
    store = PostgresStore(where, info, seal_at=10**9)
    for i in range(1, 21):
        _put(store, i, words="الموصل" * (i % 3 == 0))
    query = bm25_tokens("انسحاب القوات من الموصل 12")
    before = store.search(_vectors(1, 5)[0], query, 10)
    store._db.execute(
        "DROP TABLE isnad_segments, isnad_dead, isnad_chunk_terms; "
        "ALTER TABLE isnad_stats DROP COLUMN segments, DROP COLUMN unsealed; "
        "ALTER TABLE isnad_chunks DROP COLUMN graphed; "  # its partial indexes with it
        "CREATE INDEX isnad_chunks_hnsw ON isnad_chunks USING hnsw (embedding vector_ip_ops)"
    )
    store.close()
    store = PostgresStore(where)
    try:
        assert _count(store, "isnad_postings") == 0 < _count(store, "isnad_segments")
        assert _count(store, "isnad_chunks WHERE graphed") == 40  # its rows are in its graph
        after = store.search(_vectors(1, 5)[0], query, 10)
        assert after.dense == before.dense and after.bm25 == [(r, pytest.approx(s)) for r, s in before.bm25]
        new = _put(store, 21)  # a row outside the graph, in a database whose graph holds every row
        assert store.search(_vectors(2, 21)[1], None, 1).dense[0][0] == new[1]
        store.delete(["d0003", "d0012", "d0021"])
        fresh = PostgresStore(fresh_database(postgres), info)
        for i in range(1, 21):
            if i not in (3, 12):
                _put(fresh, i, words="الموصل" * (i % 3 == 0))
        assert [s for _, s in store.search(None, query, 10).bm25] == pytest.approx(
            [s for _, s in fresh.search(None, query, 10).bm25]
        )
        assert _count(store, "isnad_terms") == _count(fresh, "isnad_terms")
        fresh.close()
    finally:
        store.close()
