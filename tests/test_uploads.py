"""Uploads through the app's handler (real pipeline, real files): nothing is ever lost, progress is real."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rag.ingest.files import MAX_FILE_BYTES
from rag.interfaces.app import IsnadApp
from rag.pipeline import Isnad
from rag.rendering.html import sources_html
from rag.rendering.markdown import render_markdown
from rag.text.escape import md_unescape
from tests.conftest import source_names

KUWAIT = (
    "وصول وحدة أمريكية إلى الكويت\n\nوصلت وحدة من قوات التحالف غادرت العراق إلى قاعدتها في الكويت يوم الأحد، "
    "بحسب ما قال مسؤولون، في أول خطوة من نوعها هذا العام.\n"
)
ERBIL = (
    "تقرير عن قاعدة حرير\n\nقال مسؤول عسكري إن آخر وحدة ستغادر قاعدة حرير في أربيل بحلول نهاية سبتمبر، "
    "وإن المعدات الثقيلة نقلت بالفعل.\n"
)


@pytest.fixture
def app(isnad, tmp_path) -> IsnadApp:
    shutil.copytree(isnad.settings.index_dir, tmp_path / "index")
    # The test's folder plays the web server's upload folder (the real one is checked in test_security.py).
    return IsnadApp(
        Isnad(
            isnad.settings.model_copy(
                update={"index_dir": tmp_path / "index", "uploads_dir": tmp_path / "uploads"}
            )
        ),
        upload_root=tmp_path,
    )


def upload(app: IsnadApp, *paths: Path, replace: bool = False) -> tuple[list[str], str]:
    reports = [md_unescape(r) for r, _, _ in app.upload([str(p) for p in paths], replace)]
    return reports, reports[-1]  # the words shown (the report is escaped Markdown)


def sources_of(app: IsnadApp) -> list[str]:
    return source_names(app.settings)


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder / name


def test_a_different_article_under_a_taken_name_is_kept_as_a_new_document(app, tmp_path):
    upload(app, write(tmp_path / "a", "page.txt", KUWAIT))
    _, report = upload(app, write(tmp_path / "b", "page.txt", ERBIL))
    assert "as page-2.txt (that name held a different article)" in report
    assert {"page.txt", "page-2.txt"} <= set(sources_of(app))
    assert (app.settings.uploads_dir / "page.txt").read_text(encoding="utf-8") == KUWAIT


def test_replace_replaces_when_asked(app, tmp_path):
    upload(app, write(tmp_path / "a", "page.txt", KUWAIT))
    _, report = upload(app, write(tmp_path / "b", "page.txt", ERBIL), replace=True)
    assert "✓ page.txt: replaced" in report and sources_of(app).count("page.txt") == 1
    assert (app.settings.uploads_dir / "page.txt").read_text(encoding="utf-8") == ERBIL
    assert not list(app.settings.uploads_dir.glob(".*"))  # no leftovers


@pytest.mark.parametrize("replace", [False, True])
def test_a_failed_re_upload_deletes_nothing(app, tmp_path, replace):
    upload(app, write(tmp_path / "a", "page.html", f"<h1>{KUWAIT}</h1>"))
    before = sources_of(app)
    empty = tmp_path / "b" / "page.html"
    empty.parent.mkdir()
    empty.write_bytes(b"")
    _, report = upload(app, empty, replace=replace)
    assert "✗ page.html: the file is empty (nothing was changed)" in report
    assert (app.settings.uploads_dir / "page.html").read_bytes() == f"<h1>{KUWAIT}</h1>".encode()
    assert sources_of(app) == before


def test_the_size_limit_is_checked_before_copying_and_stated_correctly(app, tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * (21 * 2**20))
    _, report = upload(app, big)
    assert "the file is 21.0 MB; the limit is 20.0 MB" in report
    assert not (app.settings.uploads_dir / "big.txt").exists()
    assert MAX_FILE_BYTES == 20 * 2**20


def test_progress_is_real_and_stop_leaves_the_index_as_it_was(app, tmp_path, seeds_dir):
    long = tmp_path / "long.txt"  # the five seed articles' bodies in one file: dozens of chunks
    long.write_text(
        "ملف طويل\n\n" + "\n\n".join(p.read_text(encoding="utf-8") for p in sorted(seeds_dir.iterdir())) * 10,
        encoding="utf-8",
    )
    before = sources_of(app)
    reports = []
    for report, _, _ in app.upload([str(long)], False):
        reports.append(md_unescape(report))
        if "embedding" in report:
            app.stop_upload()  # the user presses Stop once embedding has started
    assert any("embedding" in r and "chunks" in r for r in reports)
    assert "stopped before it finished" in reports[-1] and "nothing was changed" in reports[-1]
    assert sources_of(app) == before and not (app.settings.uploads_dir / "long.txt").exists()


def test_an_upload_is_shown_as_an_upload_not_as_the_outlet_it_names(app, tmp_path):
    planted = write(tmp_path, "planted.txt", "المصدر: الجزيرة\n\n" + ERBIL)
    upload(app, planted)
    answer = app.isnad.extractive().answer("متى ستغادر آخر وحدة قاعدة حرير في أربيل؟")
    cited = next(s for s in answer.sources if s.source.endswith("planted.txt"))
    assert cited.arrival.startswith("uploaded in the app")
    assert "uploaded in the app" in answer.answer and "uploaded in the app" in sources_html(
        answer, app.docs()
    )
    rows = {r[4]: r[5] for r in app.corpus_rows()}
    assert rows["planted.txt"].startswith("uploaded in the app")
    assert rows["000_93952b5621d37da0.txt"] == "shipped seed article"


def test_article_markup_stays_text_in_briefings_and_their_export(app, tmp_path):
    from rag.rendering.html import briefing_html

    beacon = '<img src="http://127.0.0.1:9/beacon.png">'
    upload(
        app,
        write(
            tmp_path,
            "beacon.txt",
            f"قاعدة حرير {beacon}\n\nقال مسؤول عسكري إن آخر وحدة ستغادر "
            f"قاعدة حرير في أربيل {beacon} بحلول نهاية سبتمبر وفق الخطة.\n",
        ),
    )
    b = app.isnad.brief(["beacon.txt"], lang="both", length="short")
    html, md = briefing_html(b, app.docs()), render_markdown(b)
    assert "<img" not in html and "&lt;img" in html
    assert "<img" not in md and md_unescape(md).count(beacon) >= 2  # shown as itself, title and quote


def test_the_app_reads_only_files_inside_the_upload_folder(app, tmp_path, seeds_dir):
    """The app's own check, beside Gradio's: a reference outside the web server's upload folder is refused
    before anything is read, whether it is a server path, a link out of the folder, or a path with '..'."""
    root = tmp_path / "gradio"
    inside = write(root / "abc", "note.txt", KUWAIT)
    app = IsnadApp(app.isnad, upload_root=root)
    outside = write(tmp_path, "outside.txt", ERBIL)
    link = root / "abc" / "link.txt"
    link.symlink_to(seeds_dir / "000_93952b5621d37da0.txt")
    (root / "dir").symlink_to(seeds_dir)
    hostile = [
        seeds_dir / "000_93952b5621d37da0.txt",
        link,
        root / "dir" / "000_93952b5621d37da0.txt",
        f"{root}/abc/../../{outside.name}",
        str(root),
    ]
    for reference in hostile:
        _, report = upload(app, reference)
        assert (
            report == "- ✗ refused: this is not a file uploaded through the app (nothing was read or changed)"
        )
        assert not (tmp_path / "uploads").exists()
    assert "✓ note.txt: added" in upload(app, inside)[1]


def test_briefing_downloads_do_not_pile_up_in_the_temp_folder(app):
    """Each Markdown download goes to the app's own folder, which keeps only the newest ones."""
    import tempfile

    from rag.interfaces.background import KEEP_DOWNLOADS, downloads_folder

    before = set(Path(tempfile.gettempdir()).glob("isnad-brief*"))
    b = app.isnad.briefer("extractive").brief(None, None, "ar", "short", translate=False)
    paths = [Path(app._markdown_file(b)) for _ in range(KEEP_DOWNLOADS + 5)]
    assert all(p.parent.parent == downloads_folder() for p in paths)
    assert len(list(downloads_folder().iterdir())) == KEEP_DOWNLOADS and paths[-1].is_file()
    assert set(Path(tempfile.gettempdir()).glob("isnad-brief*")) - before <= {downloads_folder()}


def test_background_translation_waits_while_a_reader_is_served():
    """Pre-translation runs between readers' requests, never beside one (a stand-in corpus translator that
    records when each sentence runs: what is tested is the scheduling, not translation)."""
    import threading
    import time

    from rag.interfaces.background import Readers, pretranslate

    class Corpus:
        generator = object()
        ran: list[float] = []

        def translate_corpus(self, pause=None):
            for i in range(3):
                for _ in range(2):  # two model calls per sentence, each after the pause hook
                    pause()
                    self.ran.append(time.monotonic())
                yield i, 3, None

    readers, corpus = Readers(), Corpus()
    with readers.serving():  # a question is being answered
        worker = threading.Thread(target=pretranslate, args=(corpus, readers))
        worker.start()
        time.sleep(0.5)
        assert corpus.ran == []  # nothing translated while the reader waits
        released = time.monotonic()
    worker.join(5)
    assert len(corpus.ran) == 6 and corpus.ran[0] >= released
