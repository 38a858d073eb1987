"""Damage, a full disk and a read-only index on the SQLite store: plain words with the repair, nothing lost,
and a doctor that salvages row by row and never swaps in a store with fewer documents unasked."""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from rag.errors import IndexProblem
from rag.pipeline import Isnad

pytestmark = pytest.mark.model  # the stores are built and answered with the real embedding model

QUESTION = "متى اتفق العراق والولايات المتحدة على خطة لإعادة انتشار قوات التحالف؟"
PAGE = 4096


@pytest.fixture
def copied(isnad, tmp_path):
    """A copy of the session's seed index (the SQLite store), to damage."""
    shutil.copytree(isnad.settings.index_dir, tmp_path / "index", ignore=shutil.ignore_patterns("*.jsonl"))
    return isnad.settings.model_copy(update={"index_dir": tmp_path / "index"})


def _database(settings) -> Path:
    path = settings.index_dir / "store" / "isnad.sqlite3"
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every row in the main file, where the damage goes
    db.close()
    return path


def _damage(path: Path, page: int) -> None:
    """Page ``page`` (1-based) overwritten with random bytes, as a bad sector would leave it."""
    with path.open("r+b") as f:
        f.seek((page - 1) * PAGE)
        f.write(random.Random(page).randbytes(PAGE))


def _table_leaves_holding(path: Path, needle: bytes) -> list[int]:
    data = path.read_bytes()
    return [
        i // PAGE + 1
        for i in range(PAGE, len(data), PAGE)
        if data[i] == 0x0D and needle in data[i : i + PAGE]  # 0x0D: a table's leaf page
    ]


def test_a_damaged_page_of_documents_reads_as_the_damaged_index_message(copied):
    path = _database(copied)
    db = sqlite3.connect(path)
    (root,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'documents'").fetchone()
    db.close()
    _damage(path, root)
    with pytest.raises(IndexProblem, match="is damaged .*isnad doctor"):
        Isnad(copied).stats()
    with pytest.raises(IndexProblem, match="is damaged .*isnad doctor"):
        Isnad(copied).ask(QUESTION)
    env = {**os.environ, "ISNAD_INDEX_DIR": str(copied.index_dir), "HF_HUB_OFFLINE": "1"}
    for command in (["info"], ["ask", QUESTION]):
        run = subprocess.run([sys.executable, "-m", "rag", *command], env=env, capture_output=True, text=True)
        assert run.returncode == 1 and "is damaged" in run.stderr and "Traceback" not in run.stderr
    # every row of the table was behind that page; the seed files are where they were ingested from
    notes = Isnad(copied).doctor()
    assert "5 of them read again from their original files" in notes[-1], notes
    assert Isnad(copied).stats()["documents"] == 5 and Isnad(copied).ask(QUESTION).sources


def test_doctor_salvages_row_by_row_and_never_swaps_in_a_store_that_loses_documents(copied, tmp_path):
    notes_dir = tmp_path / "notes"
    notes_dir.mkdir()
    for i in range(40):
        (notes_dir / f"note-{i:02d}.txt").write_text(
            f"مذكرة رقم {i}: وصلت وحدة من قوات التحالف إلى قاعدة في الكويت بعد مغادرتها العراق.",
            encoding="utf-8",
        )
    Isnad(copied).ingest([notes_dir])
    path = _database(copied)
    page = _table_leaves_holding(path, b"note-20.txt")[0]
    on_page = [
        f
        for f in notes_dir.iterdir()
        if f.name.encode() in path.read_bytes()[(page - 1) * PAGE : page * PAGE]
    ]
    for f in on_page:  # their originals are gone too: these documents cannot be recovered
        f.unlink()
    _damage(path, page)
    before = path.read_bytes()

    notes = Isnad(copied).doctor()
    readable = 45 - len(on_page)
    assert f"{readable} of 45 documents are still readable; a rebuild would lose {len(on_page)}" in notes[-1]
    assert "Nothing was changed" in notes[-1] and path.read_bytes() == before  # still the live store

    notes = Isnad(copied).doctor(accept_loss=True)
    assert f"rebuilt from the {readable} documents still readable" in notes[-1]
    assert f"{len(on_page)} documents were not readable and are lost" in notes[-1]
    assert Isnad(copied).stats()["documents"] == readable
    kept = [p for p in copied.index_dir.iterdir() if p.name.startswith("store.damaged-")]
    assert len(kept) == 1 and (kept[0] / "isnad.sqlite3").read_bytes() == before  # nothing deleted


@pytest.fixture
def small_disk(tmp_path):
    """An 8 MB file system of its own (tmpfs), unmounted afterwards; skipped where mounting is not allowed."""
    where = tmp_path / "disk"
    where.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(where)], capture_output=True
    ).returncode:
        pytest.skip("this machine does not allow mounting a small file system")
    yield where
    subprocess.run(["umount", "-l", str(where)], capture_output=True)


NOTE = (
    "وقال المتحدث باسم الحكومة إن القوات الأمريكية ستنسحب من القواعد العسكرية في العراق بحلول نهاية العام. "
)


def test_a_full_disk_is_said_plainly_and_loses_nothing(copied, small_disk, tmp_path):
    settings = copied.model_copy(update={"index_dir": small_disk / "index"})
    shutil.copytree(copied.index_dir, settings.index_dir)
    free = shutil.disk_usage(small_disk).free
    (small_disk / "filler").write_bytes(b"\0" * (free - 40_000))
    big = tmp_path / "big.txt"
    big.write_text("عنوان\n\n" + "\n\n".join(NOTE * 3 + str(i) for i in range(300)), encoding="utf-8")
    with pytest.raises(IndexProblem, match="no space left on the disk that holds the index"):
        Isnad(settings).ingest([big])
    assert Isnad(settings).stats()["documents"] == 5 and Isnad(settings).ask(QUESTION).sources
    assert "index OK" in Isnad(settings).doctor()[0]
    (small_disk / "filler").unlink()  # space again: the same file goes in
    assert Isnad(settings).ingest([big]).report.added == [str(big)]


def test_a_read_only_index_is_searched_and_refuses_changes_plainly(copied, small_disk, tmp_path):
    settings = copied.model_copy(update={"index_dir": small_disk / "index"})
    shutil.copytree(copied.index_dir, settings.index_dir)
    assert not subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], capture_output=True).returncode
    assert Isnad(settings).ask(QUESTION).sources  # searched as it is
    note = tmp_path / "note.txt"
    note.write_text(NOTE, encoding="utf-8")
    with pytest.raises(IndexProblem, match="is read-only here: it can be searched, not changed"):
        Isnad(settings).ingest([note])


def _long_file(path: Path, paragraphs: int) -> Path:
    path.write_text("عنوان\n\n" + "\n\n".join(NOTE * 3 + str(i) for i in range(paragraphs)), encoding="utf-8")
    return path


def test_an_article_over_the_chunk_limit_is_refused_with_its_size_and_the_rest_go_in(copied, tmp_path):
    small = tmp_path / "small.txt"
    small.write_text(NOTE, encoding="utf-8")
    big = _long_file(tmp_path / "big.txt", 120)
    summary = Isnad(copied.model_copy(update={"max_document_chunks": 20})).ingest([big, small])
    assert summary.report.added == [str(small)]
    [refused] = summary.errors
    assert refused.source == str(big) and "too long for one article: about" in refused.reason
    assert "the limit is 20 (ISNAD_MAX_DOCUMENT_CHUNKS)" in refused.reason
    assert Isnad(copied).stats()["documents"] == 6


def test_a_stopped_ingest_resumes_from_the_vectors_it_had_made(copied, tmp_path, monkeypatch):
    """The vectors of every finished batch are kept on disk: the next ingest of the same file embeds
    only what was left, and once the store holds them they are forgotten."""
    import threading

    from rag.errors import IngestCancelled
    from rag.ingest.embed import EMBED_BATCH, EMBEDDING_CACHE

    big = _long_file(tmp_path / "big.txt", 240)  # about 100 chunks
    app, stop = Isnad(copied), threading.Event()

    def stop_after_three_batches(done: int, total: int) -> None:
        if done >= 3 * EMBED_BATCH:
            stop.set()

    with pytest.raises(IngestCancelled):
        app.ingest([big], on_progress=stop_after_three_batches, cancel=stop)
    assert (copied.index_dir / EMBEDDING_CACHE).exists() and Isnad(copied).stats()["documents"] == 5

    again = Isnad(copied)
    embedded: list[str] = []
    model_embed = again.embedder.embed_documents

    def counting(texts, titles=None):
        embedded.extend(texts)
        return model_embed(texts, titles)

    monkeypatch.setattr(again.embedder, "embed_documents", counting)
    summary = again.ingest([big])
    assert summary.report.added == [str(big)]
    assert len(embedded) == summary.report.n_chunks - 3 * EMBED_BATCH  # the three finished batches reused
    cache = sqlite3.connect(copied.index_dir / EMBEDDING_CACHE)
    assert cache.execute("SELECT count(*) FROM vectors").fetchone()[0] == 0  # forgotten once stored
    cache.close()
