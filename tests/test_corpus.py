"""Deleting articles on every store engine: gone from search and the corpus, Isnad's own copies in the
trash (or purged), the user's files untouched, names only they mentioned forgotten, bad references refused
with nothing deleted."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import IngestFileError
from rag.pipeline import Isnad
from rag.text.harvest import read_harvest
from rag.text.lexicon import HARVESTED
from tests.conftest import fresh_database

# A title, then a name no name list knows: harvested from the corpus when it is added.
UPLOAD = (
    "تعزيزات أمنية في الأنبار\n\nوقال العميد تحسين الخفاجي، المتحدث باسم قيادة العمليات المشتركة، إن قوات "
    "إضافية وصلت إلى قاعدة عين الأسد يوم الاثنين لتأمين الطريق الدولي.\n"
)
OWN = "تقرير ميداني\n\nقال مسؤولون محليون إن حركة الشاحنات عادت إلى معبر القائم الحدودي بعد إغلاق دام ثلاثة أيام.\n"


@pytest.fixture(params=["sqlite", "postgresql", "folders"])
def corpus(request, settings, tmp_path, web_server):
    store = {"sqlite": "sqlite", "folders": "folders"}.get(request.param)
    if store is None:
        store = fresh_database(request.getfixturevalue("postgres"))
    app = Isnad(
        settings.model_copy(
            update={
                "store": store,
                "index_dir": tmp_path / "index",
                "uploads_dir": tmp_path / "uploads",
                "pages_dir": tmp_path / "pages",
                "fetch_allow": f"127.0.0.1:{web_server.port}",
            }
        )
    )
    upload = app.settings.uploads_dir / "anbar.txt"
    upload.parent.mkdir(parents=True)
    upload.write_text(UPLOAD, encoding="utf-8")
    own = tmp_path / "mine" / "qaim.txt"
    own.parent.mkdir()
    own.write_text(OWN, encoding="utf-8")
    app.ingest([upload], origin={"via": "upload", "name": upload.name})
    app.ingest([own, web_server.url("/ar.html")])
    assert app.stats()["documents"] == 3
    return app, upload, own


def _sources(app: Isnad) -> set[str]:
    return {Path(d.source).name for d in app.index.documents()}


def test_delete_removes_from_search_trashes_isnads_copies_and_leaves_the_users_files(corpus):
    app, upload, own = corpus
    page = next(Path(d.source) for d in app.index.documents() if d.origin.get("via") == "url")
    assert any("الخفاجي" in r["arabic"] for r in read_harvest(app.settings.index_dir / HARVESTED))
    report = app.delete(["anbar.txt", page.name, str(own)])
    assert sorted(Path(s).name for s in report.removed) == sorted(["anbar.txt", page.name, "qaim.txt"])
    assert app.stats()["documents"] == 0 and _sources(app) == set()
    assert not app.search("قاعدة عين الأسد تعزيزات", k=3)
    # The upload and the page's three files are in the trash; the user's own file is where it was.
    trashed = {Path(f).name for f in report.trashed}
    assert {"anbar.txt", page.name, page.stem + ".html.original", page.stem + ".json"} == trashed
    assert all(Path(f).is_file() for f in report.trashed) and not upload.exists() and not page.exists()
    assert own.is_file() and report.left == [str(own)]
    # A name only the deleted upload mentioned is forgotten.
    assert report.names_dropped >= 1
    assert not any("الخفاجي" in r["arabic"] for r in read_harvest(app.settings.index_dir / HARVESTED))
    # Another process opening the index sees the same.
    assert _sources(Isnad(app.settings)) == set()


def test_purge_deletes_the_copy_and_a_bad_reference_deletes_nothing(corpus):
    app, upload, own = corpus
    before = _sources(app)
    with pytest.raises(
        IngestFileError, match=r"no indexed article matches 'nothing\.txt'.*nothing was deleted"
    ):
        app.delete(["anbar.txt", "nothing.txt"])
    with pytest.raises(IngestFileError, match="no indexed article matches 'anb'"):
        app.delete(["anb"])  # the start of a file name is not enough to delete it
    twin = own.parent.parent / "elsewhere" / "qaim.txt"  # the same file name in another folder
    twin.parent.mkdir()
    twin.write_text(OWN.replace("ثلاثة أيام", "يومين"), encoding="utf-8")
    app.ingest([twin])
    with pytest.raises(IngestFileError, match="'qaim.txt' matches 2 articles"):
        app.delete(["qaim.txt"])
    assert _sources(app) == before and upload.exists()
    app.delete([str(twin)])  # the whole path names one
    report = app.delete([upload.name], purge=True)
    assert report.purged == [str(upload)] and not upload.exists() and not report.trashed
    assert _sources(app) == before - {"anbar.txt"}
