"""Isnad end to end on each store (ISNAD_STORE): ingest the seeds, ask, brief, add one file, migrate an index."""

from __future__ import annotations

import pytest

from rag.index import IndexMissingError
from rag.pipeline import Isnad
from tests.conftest import fresh_database

QUESTION = "متى اتفق العراق والولايات المتحدة على خطة لإعادة انتشار قوات التحالف؟"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_settings(request, settings, tmp_path):
    if request.param == "sqlite":
        where = "sqlite"
    else:
        where = fresh_database(request.getfixturevalue("postgres"))
    return settings.model_copy(update={"store": where, "index_dir": tmp_path / "index"})


def test_the_seeds_on_a_store_answer_and_brief_as_on_the_index(isnad, store_settings, seeds_dir, tmp_path):
    app = Isnad(store_settings)
    with pytest.raises(IndexMissingError):
        _ = app.index
    summary = app.ingest([seeds_dir])
    assert len(summary.report.added) == 5 and summary.report.n_chunks == len(isnad.index.chunks)
    assert app.ingest([seeds_dir]).report.unchanged and not app.ingest([seeds_dir]).report.added  # nothing re-embedded
    mine, reference = app.ask(QUESTION), isnad.ask(QUESTION)
    assert [s.quote for s in mine.sources] == [s.quote for s in reference.sources]
    assert mine.short.value == reference.short.value
    b = app.brief(topic="US troop withdrawal from Iraq", lang="ar", length="short")
    assert b.covered and [line.text for line in b.lines()] == \
        [line.text for line in isnad.brief(topic="US troop withdrawal from Iraq", lang="ar", length="short").lines()]
    note = tmp_path / "note.txt"
    note.write_text("وصلت وحدة من قوات التحالف إلى قاعدة في الكويت يوم الأحد بعد مغادرتها العراق، وفق مسؤولين.",
                    encoding="utf-8")
    added = app.ingest([note])
    assert added.report.added == [str(note)] and added.report.n_chunks == 1
    assert app.stats()["documents"] == 6
    assert app.search("وحدة وصلت إلى الكويت", k=1)[0].source == str(note)


def test_an_index_migrates_into_a_store_without_re_embedding(isnad, store_settings, settings):
    import shutil

    shutil.copytree(settings.index_dir, store_settings.index_dir)  # the generation folders to migrate
    app = Isnad(store_settings)
    assert "migrated 5 documents" in app.migrate()
    assert [h.chunk_id for h in app.search(QUESTION, k=5)] == [h.chunk_id for h in isnad.search(QUESTION, k=5)]
