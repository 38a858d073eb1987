"""Index persistence logic with a small fake embedder (no quality claims here)."""

import threading

import numpy as np
import pytest

from rag.config import ChunkerSettings
from rag.errors import IndexCorruptError, IndexMissingError, IndexStaleError, IngestCancelled
from rag.ingest.files import ingest_paths, parse_document
from rag.store.folders import SearchIndex, recover_documents, repair
from rag.text.arabic import bm25_tokens
from tests.conftest import FakeEmbedder


@pytest.fixture
def seed_docs(seeds_dir):
    return ingest_paths([seeds_dir]).documents


SMALL_CHUNKS = ChunkerSettings(max_tokens=60)


def build(docs, emb, chunker=SMALL_CHUNKS):
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
    words = bm25_tokens("القوات الأمريكية")
    assert loaded.bm25_search(words, 5, None) == index.bm25_search(words, 5, None)
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
    with pytest.raises(IndexCorruptError, match="isnad doctor"):
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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CURRENT", "gen-000001", "gen-000002"]


def test_filters_mask(seed_docs, fake_embedder):
    index = build(seed_docs, fake_embedder)
    mask = index.mask(outlet="عنب بلدي")
    assert {index.chunks[i].doc_id for i in np.flatnonzero(mask)} == {
        d.doc_id for d in seed_docs if d.outlet == "عنب بلدي"
    }
    mask = index.mask(date_from="2021-01-01", date_to="2021-12-31")
    dates = {index.docs[index.chunks[i].doc_id].date for i in np.flatnonzero(mask)}
    assert dates == {"2021-06-05", "2021-08-08"}


def three_generations(tmp_path, docs, emb) -> SearchIndex:
    index = build(docs[:1], emb)
    for n in (1, 2, 3):
        index.add(docs[:n], emb)
        index.save(tmp_path)
    return index


def test_the_previous_generation_is_kept(tmp_path, seed_docs, fake_embedder):
    three_generations(tmp_path, seed_docs, fake_embedder)
    assert sorted(p.name for p in tmp_path.glob("gen-*")) == ["gen-000002", "gen-000003"]
    assert (tmp_path / "CURRENT").read_text() == "gen-000003"


def test_current_at_a_missing_generation_is_repaired_without_loss(tmp_path, seed_docs, fake_embedder):
    import shutil

    three_generations(tmp_path, seed_docs, fake_embedder)
    shutil.rmtree(tmp_path / "gen-000003")
    with pytest.raises(IndexCorruptError, match="isnad doctor"):
        SearchIndex.load(tmp_path)
    notes = repair(tmp_path)
    assert "gen-000002" in notes[0] and "Nothing was deleted" in notes[0]
    assert len(SearchIndex.load(tmp_path).docs) == 2
    assert repair(tmp_path) == []  # sound now: nothing to say


def test_deleted_current_is_repaired_and_the_next_write_does_not_collide(tmp_path, seed_docs, fake_embedder):
    index = three_generations(tmp_path, seed_docs, fake_embedder)
    (tmp_path / "CURRENT").unlink()
    with pytest.raises(IndexCorruptError, match="CURRENT is missing"):  # not "no index": there is one
        SearchIndex.load(tmp_path)
    assert "gen-000003" in repair(tmp_path)[0]
    index.add(seed_docs, fake_embedder)
    assert index.save(tmp_path).name == "gen-000004"
    assert len(SearchIndex.load(tmp_path).docs) == 5


def test_documents_are_recovered_when_no_generation_is_intact(tmp_path, seed_docs, fake_embedder):
    three_generations(tmp_path, seed_docs, fake_embedder)
    for gen in tmp_path.glob("gen-*"):
        (gen / "vectors.npy").write_bytes(b"damaged")
    with pytest.raises(IndexCorruptError, match="no generation .* is intact"):
        repair(tmp_path)
    docs, gen = recover_documents(tmp_path)
    assert gen == "gen-000003" and len(docs) == 3


def test_a_cancelled_add_changes_nothing(seed_docs, fake_embedder):
    index = build(seed_docs[:2], fake_embedder)
    before = index.stats()
    stop, seen = threading.Event(), []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        stop.set()  # the user presses Stop after the first batch

    with pytest.raises(IngestCancelled):
        index.add(seed_docs, fake_embedder, on_progress=progress, cancel=stop)
    assert index.stats() == before and len(seen) == 1 and seen[0][0] < seen[0][1]
    report = index.add(seed_docs, fake_embedder, on_progress=lambda d, t: seen.append((d, t)))
    assert seen[-1][0] == seen[-1][1] == report.n_chunks
