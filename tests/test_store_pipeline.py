"""Isnad end to end on each store (ISNAD_STORE): ingest the seeds, ask, brief, add one file, migrate an index;
the default SQLite store takes over an old index, re-embeds in place and is repaired without loss."""

from __future__ import annotations

import shutil
import sqlite3
import threading

import pytest

from rag.errors import IndexMissingError, IndexProblem, IngestCancelled
from rag.pipeline import Isnad
from tests.conftest import fresh_database, source_names

pytestmark = pytest.mark.model  # the pipeline over both stores loads the embedding model

QUESTION = "متى اتفق العراق والولايات المتحدة على خطة لإعادة انتشار قوات التحالف؟"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_settings(request, settings, tmp_path):
    if request.param == "sqlite":
        where = "sqlite"
    else:
        where = fresh_database(request.getfixturevalue("postgres"))
    return settings.model_copy(update={"store": where, "index_dir": tmp_path / "index"})


def test_the_seeds_on_a_store_answer_and_brief_as_on_the_index(
    folders_isnad, store_settings, seeds_dir, tmp_path
):
    isnad = folders_isnad
    app = Isnad(store_settings)
    with pytest.raises(IndexMissingError):
        _ = app.index
    summary = app.ingest([seeds_dir])
    assert len(summary.report.added) == 5 and summary.report.n_chunks == len(isnad.index.chunks)
    # nothing re-embedded
    assert app.ingest([seeds_dir]).report.unchanged and not app.ingest([seeds_dir]).report.added
    mine, reference = app.ask(QUESTION), isnad.ask(QUESTION)
    assert [s.quote for s in mine.sources] == [s.quote for s in reference.sources]
    assert (mine.short or mine.withheld_short).value == (reference.short or reference.withheld_short).value
    assert (mine.short is None) == (reference.short is None)  # the same confidence, the same line
    b = app.brief(topic="US troop withdrawal from Iraq", lang="ar", length="short")
    assert b.covered and [line.text for line in b.lines()] == [
        line.text
        for line in isnad.brief(topic="US troop withdrawal from Iraq", lang="ar", length="short").lines()
    ]
    note = tmp_path / "note.txt"
    note.write_text(
        "وصلت وحدة من قوات التحالف إلى قاعدة في الكويت يوم الأحد بعد مغادرتها العراق، وفق مسؤولين.",
        encoding="utf-8",
    )
    added = app.ingest([note])
    assert added.report.added == [str(note)] and added.report.n_chunks == 1
    assert app.stats()["documents"] == 6
    assert app.search("وحدة وصلت إلى الكويت", k=1)[0].source == str(note)


def test_doctor_reports_deleted_chunks_still_held_and_compacts_them(store_settings, seeds_dir, tmp_path):
    articles = tmp_path / "articles"
    shutil.copytree(seeds_dir, articles)
    app = Isnad(store_settings)
    app.ingest([articles])
    app.index.compact()  # the seeds into a part / a sealed segment, so a replaced file leaves rows behind
    first = sorted(articles.iterdir())[0]  # 5 chunks
    first.write_text(
        first.read_text(encoding="utf-8") + "\n\nوأكد البيان أن المحادثات ستستمر الشهر المقبل.\n",
        encoding="utf-8",
    )
    assert Isnad(store_settings).ingest([articles]).report.replaced == [str(first)]
    answer = Isnad(store_settings).ask(QUESTION)
    notes = Isnad(store_settings).doctor()
    assert notes[0].startswith("index OK") and notes[1].startswith("5 deleted chunks are still held"), notes
    assert Isnad(store_settings).doctor(compact=True)[1].startswith("compacted: 5 deleted chunks reclaimed")
    assert (
        Isnad(store_settings).doctor() == notes[:1]
        and "nothing to compact" in Isnad(store_settings).doctor(True)[1]
    )
    again = Isnad(store_settings).ask(QUESTION)
    assert [s.quote for s in again.sources] == [s.quote for s in answer.sources]


def test_an_index_migrates_into_a_store_without_re_embedding(folders_isnad, store_settings):
    # the generation folders to migrate
    shutil.copytree(folders_isnad.settings.index_dir, store_settings.index_dir)
    app = Isnad(store_settings)
    assert "migrated 5 documents" in app.migrate()
    assert [h.chunk_id for h in app.search(QUESTION, k=5)] == [
        h.chunk_id for h in folders_isnad.search(QUESTION, k=5)
    ]


# ------------------------------------------------------------------ the default store (SQLite in index_dir/store)


def test_the_default_store_takes_over_an_old_index_without_re_embedding(
    folders_isnad, settings, tmp_path, monkeypatch
):
    shutil.copytree(folders_isnad.settings.index_dir, tmp_path / "index")
    mine = settings.model_copy(update={"index_dir": tmp_path / "index"})
    assert settings.store == "sqlite"  # the default
    app = Isnad(mine)
    monkeypatch.setattr(app.embedder, "embed_documents", None)  # migrating must not embed anything
    assert app.stats()["documents"] == 5
    assert [h.chunk_id for h in app.search(QUESTION, k=5)] == [
        h.chunk_id for h in folders_isnad.search(QUESTION, k=5)
    ]
    assert (tmp_path / "index" / "CURRENT").exists() and (
        tmp_path / "index" / "store" / "isnad.sqlite3"
    ).exists()


@pytest.fixture
def copied(isnad, tmp_path):
    """A copy of the session's seed index (the default store), to change or damage."""
    shutil.copytree(isnad.settings.index_dir, tmp_path / "index")
    return isnad.settings.model_copy(update={"index_dir": tmp_path / "index"})


def test_a_new_chunker_re_embeds_in_place_and_a_stopped_rebuild_changes_nothing(copied, tmp_path):
    note = tmp_path / "note.txt"
    note.write_text(
        "وصلت وحدة من قوات التحالف إلى قاعدة في الكويت يوم الأحد بعد مغادرتها العراق.", encoding="utf-8"
    )
    smaller = copied.model_copy(update={"chunk_tokens": 128})
    stop = threading.Event()
    stop.set()
    with pytest.raises(IngestCancelled):
        Isnad(smaller).ingest([note], cancel=stop)
    before = Isnad(copied).index.info()
    assert (before.n_docs, before.chunker["max_tokens"]) == (5, 256)
    summary = Isnad(smaller).ingest([note])
    assert (
        summary.rebuilt
        and "re-embedding the 6 documents" in summary.notes[0]
        and summary.report.added == [str(note)]
    )
    after = Isnad(smaller).index.info()
    assert (after.n_docs, after.chunker["max_tokens"]) == (6, 128) and after.n_chunks > before.n_chunks
    assert sorted(p.name for p in copied.index_dir.iterdir() if p.name.startswith("store")) == ["store"]


def _damage_vectors(settings) -> None:
    """Three of the seed store's vectors cut short (the seeds are all recent rows: below a part's size)."""
    db = sqlite3.connect(settings.index_dir / "store" / "isnad.sqlite3")
    with db:
        db.execute(
            "UPDATE recent SET vector = substr(vector, 1, 100) WHERE row IN (SELECT row FROM recent LIMIT 3)"
        )
    db.close()


def test_doctor_rebuilds_a_damaged_store_from_its_documents_and_keeps_the_damaged_one(isnad, copied):
    _damage_vectors(copied)
    with pytest.raises(IndexProblem, match="isnad doctor"):
        _ = Isnad(copied).index
    notes = Isnad(copied).doctor()
    assert (
        "vectors of 3 recent chunk(s) are damaged" in notes[0] and "rebuilt from the 5 documents" in notes[-1]
    )
    assert [h.chunk_id for h in Isnad(copied).search(QUESTION, k=5)] == [
        h.chunk_id for h in isnad.search(QUESTION, k=5)
    ]
    kept = [p for p in copied.index_dir.iterdir() if p.name.startswith("store.damaged-")]
    assert len(kept) == 1 and (kept[0] / "isnad.sqlite3").exists()  # nothing deleted
    assert "index OK" in Isnad(copied).doctor()[0]

    (copied.index_dir / "store" / "isnad.sqlite3").write_bytes(b"not a database" * 100)
    notes = Isnad(copied).doctor()  # nothing readable: nothing is swapped in until the reader agrees
    assert "not a database" in notes[0] and "Nothing was changed" in notes[-1]
    assert (copied.index_dir / "store" / "isnad.sqlite3").read_bytes().startswith(b"not a database")
    notes = Isnad(copied).doctor(accept_loss=True)
    assert "nothing was readable: ingest your files again" in notes[-1]


def test_the_app_starts_on_a_damaged_store_and_repairs_it(copied):
    from rag.interfaces.app import IsnadApp

    _damage_vectors(copied)
    ui = IsnadApp(Isnad(copied))
    ui.build()
    assert "needs repair" in ui.index_problem() and ui.corpus_rows() == []
    message, button, rows, _ = ui.repair()
    assert "rebuilt from the 5 documents" in message.replace("\\", "") and button["visible"] is False
    assert len(rows) == 5 and ui.index_problem() == "" and len(source_names(copied)) == 5


def test_messages_name_the_store_without_its_password(settings):
    from rag.store.registry import store_label

    label = store_label(
        settings.model_copy(update={"store": "postgresql://isnad:s3cret@db.example:6543/news"})
    )
    assert label == "PostgreSQL at db.example:6543/news" and "s3cret" not in label
    assert store_label(settings).startswith("the SQLite store at ")


def test_an_app_sees_what_another_process_adds_to_the_same_store(copied, tmp_path):
    reader = Isnad(copied)
    reader.searcher.documents()  # read once, as the app does at start
    note = tmp_path / "kuwait.txt"
    note.write_text(
        "وصلت وحدة من قوات التحالف إلى قاعدة في الكويت يوم الأحد بعد مغادرتها العراق، وفق مسؤولين.",
        encoding="utf-8",
    )
    Isnad(copied).ingest([note])  # another writer
    answer = reader.ask("متى وصلت وحدة من قوات التحالف إلى الكويت؟")
    assert answer.sources and answer.sources[0].source == str(note)
    assert reader.searcher.document(answer.sources[0].doc_id).source == str(note)


def test_a_store_written_by_an_earlier_isnad_says_so_and_doctor_rebuilds_it(copied):
    db = sqlite3.connect(copied.index_dir / "store" / "isnad.sqlite3")
    with db:
        db.execute("UPDATE meta SET value = '1' WHERE key = 'format'")
    db.close()
    with pytest.raises(IndexProblem, match="earlier Isnad"):
        _ = Isnad(copied).index
    assert "rebuilt from the 5 documents" in Isnad(copied).doctor()[-1]
    assert Isnad(copied).stats()["documents"] == 5
