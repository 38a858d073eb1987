"""The embedded store's dense leg: sealed HNSW parts against exact search, deletions, filters, and the
store sealing, compacting and recovering them."""

from __future__ import annotations

import numpy as np
import pytest

from rag.errors import StoreError
from rag.store import vectors as vectors_module
from rag.store.base import StoreInfo
from rag.store.sqlite import SqliteStore
from rag.store.vectors import Sealed, Vectors, rows_path
from rag.types import Chunk, Document, Filters

DIM = 64


def _clustered(n: int, seed: int = 0) -> np.ndarray:
    """Vectors around 40 centres, as chunks of a few stories are (noise as large as the centre)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    v = centres[rng.integers(0, 40, n)] + rng.normal(0, 1 / np.sqrt(DIM), (n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _exact(rows: np.ndarray, vectors: np.ndarray, q: np.ndarray, k: int) -> list[int]:
    return rows[np.argsort(-(vectors @ q), kind="stable")[:k]].tolist()


def _mask(rows: np.ndarray) -> np.ndarray:
    """A mask by row, as the store's filters give (one past the largest row: newer rows are not allowed)."""
    mask = np.zeros(rows.max() + 1, bool)
    mask[rows] = True
    return mask


def _recall(found: list[int], exact: list[int]) -> float:
    return len(set(found) & set(exact)) / len(exact)


def test_sealed_parts_find_what_exact_search_finds(tmp_path, monkeypatch):
    monkeypatch.setattr(vectors_module, "EXACT_UP_TO", 200)  # parts of 2,500 here, of 32,768 in use
    x, rows = _clustered(6000), np.arange(1, 6001) * 3  # rows ascending with gaps, as after deletions
    vectors = Vectors(DIM)
    for part, span in enumerate((slice(0, 2500), slice(2500, 5000))):
        path = tmp_path / f"hnsw-{part}.faiss"
        Sealed.write(path, rows_path(path), x[span], rows[span])
        vectors.sealed.append(Sealed.open(tmp_path / f"hnsw-{part}.faiss"))
    vectors.add(x[5000:], rows[5000:])
    queries = _clustered(20, seed=1)
    assert (
        np.mean([_recall([r for r, _ in vectors.search(q, 10)], _exact(rows, x, q, 10)) for q in queries])
        >= 0.98
    )

    gone = rows[::7]  # every seventh chunk deleted, in the parts and the flat vectors
    vectors.remove(gone)
    live = ~np.isin(rows, gone)
    assert vectors.ntotal == live.sum() and set(vectors.rows().tolist()) == set(rows[live].tolist())
    small = rows[live][::40]  # few enough to score exactly in each part
    large = rows[live][: 3 * len(rows) // 4]  # filtered through the graph
    assert len(small) // 2 <= 200 < len(large) // 2
    for q in queries:
        found = [r for r, _ in vectors.search(q, 10)]
        assert not set(found) & set(gone.tolist())
        assert _recall(found, _exact(rows[live], x[live], q, 10)) >= 0.9
        in_small = np.isin(rows, small)
        assert [r for r, _ in vectors.search(q, 10, _mask(small))] == _exact(
            rows[in_small], x[in_small], q, 10
        )
        in_large = np.isin(rows, large)
        found = [r for r, _ in vectors.search(q, 10, _mask(large))]
        assert (
            set(found) <= set(large.tolist())
            and _recall(found, _exact(rows[in_large], x[in_large], q, 10)) >= 0.9
        )
    got_rows, got = vectors.all()
    assert got_rows.tolist() == rows[live].tolist() and np.array_equal(got, x[live])


def _put(store: SqliteStore, i: int, vectors: np.ndarray, outlet: str = "العربي") -> list[int]:
    text = " ".join(f"جملة {i} رقم {j}." for j in range(len(vectors)))
    doc = Document(
        f"d{i:05d}", f"docs/{i}.txt", text, f"عنوان {i}", outlet, "2022-01-01", "ar", [(0, len(text))]
    )
    chunks = [
        Chunk(f"{doc.doc_id}:{j}", doc.doc_id, 0, len(text), text, [(0, len(text))], 5)
        for j in range(len(vectors))
    ]
    return store.upsert(doc, chunks, vectors, [["جملة", str(i), str(j)] for j in range(len(vectors))])


def test_the_store_seals_compacts_and_recovers_its_parts(tmp_path):
    info = StoreInfo("test-model", DIM, {"max_tokens": 256, "overlap_sentences": 1})
    folder = tmp_path / "store"
    store, reader = SqliteStore(folder, info, seal_at=400), SqliteStore(folder, seal_at=400)
    x = _clustered(1500)
    rows = []
    # 50 chunks a document: a part sealed every 8 documents (in the background: waited for)
    for i in range(30):
        rows += _put(store, i, x[50 * i : 50 * (i + 1)], outlet="العربي" if i % 3 else "الجزيرة")
        store.settle()
    rows = np.array(rows)
    names = sorted(p.name for p in (folder / "vectors").iterdir())
    # graph, rows, vocabulary, postings and their checksums, for each of 3 parts
    assert sum(n.startswith("part-") and n.endswith(".faiss") for n in names) == 3 and len(names) == 15
    assert store._db.execute("SELECT count(*) FROM recent").fetchone()[0] == 300  # the rest, not yet sealed
    store.delete(["d00001"])
    live = ~np.isin(rows, rows[50:100])
    q = _clustered(1, seed=5)[0]
    exact = _exact(rows[live], x[live], q, 10)
    for s in (store, reader):  # the reader follows the seals another instance committed
        assert _recall([r for r, _ in s.search(q, None, 10).dense], exact) >= 0.9
        assert s.check() == []
    aljazeera = s.search(q, None, 10, Filters(outlet="الجزيرة")).dense
    in_outlet = np.isin(rows, [r for i in range(0, 30, 3) for r in rows[50 * i : 50 * (i + 1)]])
    # few rows: scored exactly
    assert [r for r, _ in aljazeera] == _exact(rows[in_outlet], x[in_outlet], q, 10)

    store.compact()
    names = sorted(p.name for p in (folder / "vectors").iterdir())
    assert len(names) == 5 and len({n.split(".")[0] for n in names}) == 1  # one part
    assert reader.check() == [] and reader.info().n_chunks == 1450
    assert _recall([r for r, _ in reader.search(q, None, 10).dense], exact) >= 0.9

    _put(store, 99, _clustered(10, seed=9))  # after the seal: flat again
    store.close(), reader.close()
    (folder / "vectors" / "part-999999.faiss").write_bytes(b"a seal a crash stopped before its commit")
    again = SqliteStore(folder)
    assert not (folder / "vectors" / "part-999999.faiss").exists()
    assert again.check() == [] and again.info().n_chunks == 1460
    again.close()
    for damaged in sorted((folder / "vectors").iterdir()):  # graph, postings, rows: each one alone
        intact = damaged.read_bytes()
        damaged.write_bytes(b"damaged")
        with pytest.raises(StoreError, match="isnad doctor"):
            SqliteStore(folder)
        damaged.write_bytes(intact)
    assert SqliteStore(folder).check() == []
