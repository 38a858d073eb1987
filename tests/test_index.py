"""Index persistence logic with a small fake embedder (no quality claims here)."""


import numpy as np
import pytest

from rag.chunking import ChunkerSettings
from rag.index import IndexCorruptError, IndexMissingError, IndexStaleError, SearchIndex
from rag.ingest import ingest_paths, parse_document
from tests.conftest import FakeEmbedder


@pytest.fixture
def seed_docs(seeds_dir):
    return ingest_paths([seeds_dir]).documents


def build(docs, emb, chunker=ChunkerSettings(max_tokens=60)):
    index = SearchIndex(emb.model_id, emb.dim, chunker)
    index.add(docs, emb)
    return index


def test_save_load_round_trip(tmp_path, seed_docs, fake_embedder):
    index = build(seed_docs, fake_embedder)
    index.save(tmp_path)
    loaded = SearchIndex.load(tmp_path)
    assert loaded.stats() == index.stats()
    assert np.array_equal(loaded.vectors, index.vectors)
    q = fake_embedder.embed_queries(["القوات الأمريكية"])[0]
    assert loaded.dense_search(q, 5, None) == index.dense_search(q, 5, None)
    assert loaded.bm25_search("القوات الأمريكية", 5, None) == index.bm25_search("القوات الأمريكية", 5, None)
    assert not any(p.suffix in (".pkl", ".pickle") for p in tmp_path.rglob("*"))


def test_incremental_add_and_replacement(tmp_path, seed_docs, fake_embedder):
    index = build(seed_docs[:3], fake_embedder)
    n = len(index.chunks)
    report = index.add(seed_docs, fake_embedder)
    assert len(report.added) == 2 and len(report.unchanged) == 3
    assert len(index.chunks) > n and len(index.vectors) == len(index.chunks) == index.dense.ntotal
    # the same source with new content replaces the old document
    changed = parse_document(seed_docs[0].text + "\nفقرة جديدة أضيفت لاحقا.", seed_docs[0].source)
    report = index.add([changed], fake_embedder)
    assert report.replaced == [seed_docs[0].source]
    assert seed_docs[0].doc_id not in index.docs and changed.doc_id in index.docs
    assert all(c.doc_id in index.docs for c in index.chunks)


def test_model_or_chunker_change_is_detected(seed_docs, fake_embedder):
    index = build(seed_docs, fake_embedder)
    with pytest.raises(IndexStaleError, match="other-model"):
        index.add(seed_docs, FakeEmbedder(model_id="other-model"))
    with pytest.raises(IndexStaleError, match="chunked with"):
        index.check_compatible("fake", ChunkerSettings(max_tokens=99))
    fresh = index.rebuilt(FakeEmbedder(model_id="other-model"), ChunkerSettings(max_tokens=99))
    assert fresh.model_id == "other-model" and set(fresh.docs) == set(index.docs)


def test_missing_index_names_the_fix(tmp_path):
    with pytest.raises(IndexMissingError, match="isnad ingest"):
        SearchIndex.load(tmp_path / "nothing")


@pytest.mark.parametrize("victim", ["vectors.npy", "dense.faiss", "chunks.jsonl", "manifest.json"])
def test_corrupt_or_truncated_file_gives_clear_error(tmp_path, seed_docs, fake_embedder, victim):
    gen = build(seed_docs, fake_embedder).save(tmp_path)
    path = gen / victim
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(IndexCorruptError, match="--rebuild"):
        SearchIndex.load(tmp_path)


def test_crash_mid_write_leaves_previous_generation_usable(tmp_path, seed_docs, fake_embedder):
    index = build(seed_docs[:2], fake_embedder)
    index.save(tmp_path)
    # A writer that died after writing half a generation: an unreferenced temp folder.
    (tmp_path / ".gen-000002.tmp").mkdir()
    (tmp_path / ".gen-000002.tmp" / "vectors.npy").write_bytes(b"partial")
    loaded = SearchIndex.load(tmp_path)
    assert len(loaded.docs) == 2
    loaded.add(seed_docs, fake_embedder)
    loaded.save(tmp_path)  # the next write cleans up and moves on
    assert len(SearchIndex.load(tmp_path).docs) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CURRENT", "gen-000002"]


def test_filters_mask(seed_docs, fake_embedder):
    index = build(seed_docs, fake_embedder)
    mask = index.mask(outlet="عنب بلدي")
    assert {index.chunks[i].doc_id for i in np.flatnonzero(mask)} == {
        d.doc_id for d in seed_docs if d.outlet == "عنب بلدي"}
    mask = index.mask(date_from="2021-01-01", date_to="2021-12-31")
    dates = {index.docs[index.chunks[i].doc_id].date for i in np.flatnonzero(mask)}
    assert dates == {"2021-06-05", "2021-08-08"}
