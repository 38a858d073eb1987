"""Isnad's Gradio app: cited chat on the left, bilingual briefings on the right.

Offline by default: extractive answers and briefings need no LLM and appear at once.
A generator (the embedded local model or any OpenAI-compatible endpoint) then adds,
without blocking, labelled machine translations or a verified generated answer.
Binds 127.0.0.1 unless told otherwise; analytics off; every failure becomes a message.

    python app.py [--host 127.0.0.1] [--port 7860] [--index-dir data/index]
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime as dt
import functools
import hashlib
import os
import queue
import re
import shutil
import tempfile
import threading
import time
import uuid
from html import escape, unescape
from pathlib import Path
from typing import Iterator

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from rag.answer import (Conversation, GenerativeEngine, QuestionError, question_language,  # noqa: E402
                        validate_question)
from rag.brief import BriefingError, GenerativeBriefer  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.escape import md_escape  # noqa: E402
from rag.index import IndexMissingError, IndexProblem  # noqa: E402
from rag.ingest import MAX_FILE_BYTES, IngestFileError  # noqa: E402
from rag.llm import EndpointRefused, Generator, GeneratorUnavailable, user_generator  # noqa: E402
from rag.pipeline import Isnad  # noqa: E402
from rag.render import CSS, HEAD, answer_card, block, briefing_html, sources_html  # noqa: E402
from rag.retrieve import MODES  # noqa: E402
from rag.uploads import UploadRefused, UploadStore, received  # noqa: E402

EXTRACTIVE = "Extractive (offline, quotes only)"
GENERATIVE = "Generator (machine-written, verified)"
SCOPES = ("All articles", "Article", "Topic")
LENGTH_CHOICES = ("short", "medium", "long")
CORPUS_COLUMNS = ("Title", "Outlet", "Date", "Chunks", "File", "Added")
REPLACE = ("Replace a stored file of the same name (otherwise the new one is kept under a new name)",
           "استبدل ملفًا مخزنًا بالاسم نفسه (وإلا يُحفظ الجديد باسم آخر)")
# The interface language sets the page's direction: an Arabic interface puts the chat on the right.
SET_DIRECTION = """(choice) => { document.documentElement.lang = choice;
  document.documentElement.dir = choice === 'ar' ? 'rtl' : 'ltr'; return choice; }"""
EXAMPLES = [
    "When did Iraq and the US agree to redeploy coalition forces outside the country?",
    "How many coalition troops remain in Iraq, and how many are American?",
    "متى اتفق العراق والولايات المتحدة على انسحاب القوات القتالية؟",
    "ماذا قال البنتاغون عن المحادثات مع العراق في يناير 2024؟",
]


class Readers:
    """Readers' requests in flight. Background work runs only between them: it waits for none to be running."""

    def __init__(self) -> None:
        self._n = 0
        self._idle = threading.Condition()

    @contextlib.contextmanager
    def serving(self):
        with self._idle:
            self._n += 1
        try:
            yield
        finally:
            with self._idle:
                self._n -= 1
                self._idle.notify_all()

    def wait_idle(self) -> None:
        with self._idle:
            self._idle.wait_for(lambda: self._n == 0)


READERS = Readers()


def _for_readers(handler):
    """A streaming handler counted as a reader's request while it runs (background work pauses meanwhile)."""
    @functools.wraps(handler)
    def serving(*args, **kwargs):
        with READERS.serving():
            yield from handler(*args, **kwargs)
    return serving



class IsnadApp:
    """The handlers behind the UI; each returns messages, never tracebacks."""

    def __init__(self, isnad: Isnad, upload_root: str | Path | None = None):
        self.isnad = isnad
        # Only files inside the folder the web server writes request bodies to count as uploads.
        self.upload_root = Path(upload_root or gr.utils.get_upload_folder())
        self.settings = isnad.settings
        self._ingest_lock = threading.Lock()
        self._cancel: threading.Event | None = None
        self._endpoints: dict[tuple[str, str], Generator] = {}

    # ------------------------------------------------------------ helpers

    def generator(self, endpoint: str | None, model: str | None, api_key: str | None = None) -> Generator | None:
        """The operator's generator, or one for an endpoint the user typed (their key only; see user_generator)."""
        endpoint, model, api_key = (endpoint or "").strip(), (model or "").strip(), (api_key or "").strip()
        if not endpoint:
            return self.isnad.generator
        if endpoint == (self.settings.llm_base_url or "") and not api_key:
            return self.isnad.generator  # the operator's own endpoint, with the operator's key
        key = (endpoint, model, hashlib.sha256(api_key.encode()).hexdigest())
        if key not in self._endpoints:
            self._endpoints[key] = user_generator(self.settings, endpoint, model, api_key)
        return self._endpoints[key]

    def docs(self) -> dict:
        try:
            return self.isnad.searcher.documents()
        except IndexProblem:
            return {}

    def corpus_rows(self) -> list[list]:
        try:
            stats = self.isnad.stats()
        except IndexProblem:  # missing or damaged: the banner above the tabs says which, and offers the repair
            return []
        return [[d["title"] or "(untitled)", d["outlet"] or "unknown", d["date"] or "unknown", d["chunks"],
                 Path(d["source"]).name, d["arrival"]] for d in stats["per_document"]]

    def index_problem(self) -> str:
        """A damaged index is a banner with a repair button, never a crash at start-up ("" when sound)."""
        try:
            _ = self.isnad.index
        except IndexMissingError:
            return ""
        except IndexProblem as e:
            return f"⚠ **The index needs repair.** {md_escape(str(e))}"
        return ""

    def repair(self):
        try:
            notes = self.isnad.doctor()
        except IndexProblem as e:
            return f"⚠ {md_escape(str(e))}", gr.update(visible=True), self.corpus_rows(), gr.update()
        return (md_escape(" ".join(notes)), gr.update(visible=False), self.corpus_rows(),
                gr.update(choices=self.article_choices()))

    def article_choices(self) -> list[tuple[str, str]]:
        # The title first, short enough for the box, isolated (U+2068…U+2069) so the file name keeps its place
        return [(f"\u2068{_shorten(d.title or '(untitled)')}\u2069 — {Path(d.source).name}", d.doc_id)
                for d in self.docs().values()]

    # ------------------------------------------------------------ chat

    @_for_readers
    def ask(self, question: str, history: list, engine: str, endpoint: str, model: str, api_key: str, k: int,
            mode: str):
        """Stream: the extractive answer card at once, then translations or the verified generated answer.

        Earlier questions come from the chat history itself, so a cleared chat starts afresh.
        """
        history = list(history or [])
        asked = [message_text(m) for m in history if m.get("role") == "user"]
        question = question or ""
        try:
            question = validate_question(question, self.settings)
        except QuestionError as e:
            history += [_user(question.strip()[:300] or "…"), _bot(block(f"⚠ {e}", "isnad-note"))]
            yield history, gr.update(), question
            return
        lang = "ar" if question_language(question) == "ar" else "en"
        history += [_user(question), _bot(block(WORKING[lang], "isnad-note", lang))]
        yield history, gr.update(), ""
        aid = uuid.uuid4().hex[:10]
        try:
            extractive = self.isnad.extractive()
            query = Conversation(extractive, history=asked).retrieval_query(question)
            answer = extractive.answer(question, retrieval_query=query, k=int(k), mode=mode, translate=False)
            docs = self.docs()
            history[-1] = _bot(answer_card(answer, aid))
            yield history, sources_html(answer, docs, aid), ""
            try:
                gen = self.generator(endpoint, model, api_key)
            except EndpointRefused as e:  # the extractive answer stands; say why nothing else was called
                history[-1] = _bot(answer_card(answer, aid) + block(f"⚠ Your endpoint was not used: {e}.", "isnad-note", "en"))
                yield history, gr.update(), ""
                return
            if engine == GENERATIVE and gen is None:
                history[-1] = _bot(answer_card(answer, aid) + block(
                    "No generator is configured (set ISNAD_GENERATOR=local or ISNAD_LLM_BASE_URL, or type an "
                    "endpoint in Settings); this is the extractive answer.", "isnad-note", "en"))
                yield history, gr.update(), ""
                return
            if engine == EXTRACTIVE or answer.abstained:
                if extractive.needs_translation(answer):  # checked renderings, or the notice that there are none
                    if gen is not None:
                        history[-1] = _bot(answer_card(answer, aid) + _writing(
                            f"Adding English machine translations by {gen.label} (about 5–10 s a quote)…"))
                        yield history, gr.update(), ""
                    extractive.translate(answer, gen)
                    history[-1] = _bot(answer_card(answer, aid))
                    yield history, sources_html(answer, docs, aid), ""
                return
            yield from self._generate(question, query, k, mode, gen, extractive, answer, history, aid, docs)
        except IndexMissingError:
            history[-1] = _bot(block("⚠ There is no index yet. Add articles in the Corpus tab, or run "
                                     "`isnad ingest seeds/`.", "isnad-note", "en"))
            yield history, gr.update(), ""
        except (IndexProblem, GeneratorUnavailable, ValueError) as e:
            history[-1] = _bot(block(f"⚠ {e}", "isnad-note"))
            yield history, gr.update(), ""
        except Exception as e:  # noqa: BLE001 (the UI shows a message, never a traceback)
            history[-1] = _bot(block(f"⚠ Something went wrong ({type(e).__name__}: {e}). Your question was kept.",
                                     "isnad-note", "en"))
            yield history, gr.update(), question

    def _generate(self, question, query, k, mode, gen, extractive, answer, history, aid, docs):
        """The generated answer, streamed under the extractive card: the wait announced, then tokens counted."""
        first = answer_card(answer, aid)
        engine = GenerativeEngine(extractive, gen, self.settings)
        stream = engine.stream(question, retrieval_query=query, k=int(k), mode=mode)
        written, t0 = "", time.monotonic()
        expect = "it usually starts writing after 20–40 s on this machine" if self.settings.generator == "local" \
            else "it usually starts within a few seconds"
        for item in _ticking(stream):
            if item is None or isinstance(item, str):
                written += item or ""
                if written:
                    status = f"{gen.label}, writing (not yet verified), {len(written.split())} words: {written}"
                else:
                    status = f"{gen.label} is reading the sources; {expect} (waited {time.monotonic() - t0:.0f} s)."
                history[-1] = _bot(first + _writing(status))
                yield history, gr.update(), ""
            else:
                history[-1] = _bot(answer_card(item, aid))
                yield history, sources_html(item, docs, aid), ""

    def regenerate(self, history: list, *settings):
        """Ask the last question again (with the current settings), in place of its answer."""
        history = list(history or [])
        last = max((i for i, m in enumerate(history) if m.get("role") == "user"), default=None)
        if last is None:
            yield history, gr.update(), gr.update()
            return
        question = message_text(history[last])
        yield from self.ask(question, history[:last], *settings)

    @staticmethod
    def stopped(history: list) -> list:
        """After Stop: the unverified text goes, the checked answer stays, and the chat says it was stopped."""
        history = list(history or [])
        if history and history[-1].get("role") == "assistant":
            content = _content(history[-1])
            kept = content.split(_WRITING, 1)[0]
            if 'class="isnad-card' not in kept:
                kept = ""
            history[-1] = _bot(kept + block("Stopped. · أُوقف.", "isnad-note", "en"))
        return history

    # ------------------------------------------------------------ briefing

    @_for_readers
    def brief(self, scope: str, article: str | None, topic: str, lang: str, length: str, engine: str,
              endpoint: str, model: str, api_key: str):
        """Stream: the extractive briefing at once, then its translations (or the generated version)."""
        job = None
        bid = uuid.uuid4().hex[:10]
        try:
            articles = [article] if scope == "Article" and article else None
            if scope == "Article" and not article:
                raise BriefingError("choose an article first")
            if scope == "Topic" and not (topic or "").strip():
                raise BriefingError("type a topic first, e.g. US troop withdrawal from Iraq")
            briefer = self.isnad.briefer("extractive")
            b = briefer.brief(articles, topic if scope == "Topic" else None, lang, length, translate=False)
            docs = self.docs()
            yield briefing_html(b, docs, bid), self._markdown_file(b)
            gen = self.generator(endpoint, model, api_key)
            if gen is None or not b.covered:
                return
            if engine == GENERATIVE:
                job = _Job(lambda _: GenerativeBriefer(briefer, gen, self.settings).brief(
                    articles, topic if scope == "Topic" else None, lang, length), unit="")
                while job.running(poll=1.0):
                    yield _message(f"{gen.label} is writing the briefing: {job.status()}") + briefing_html(b, docs, bid), None
            elif any(line.language != lang and not line.see for line in b.lines()):
                job = _Job(lambda progress: briefer.translate(b, gen, on_line=progress), unit="lines translated")
                while job.running(poll=1.0):  # lines are filled in place: show each as it comes
                    yield _message(f"Machine translation by {gen.label}: {job.status()}") + briefing_html(b, docs, bid), None
            else:
                return
            if job.error is not None:
                raise job.error
            b = job.result
            yield briefing_html(b, docs, bid), self._markdown_file(b)
        except IndexMissingError:
            yield _message("There is no index yet: add articles in the Corpus tab."), None
        except (BriefingError, IndexProblem, GeneratorUnavailable, ValueError) as e:
            yield _message(str(e)), None
        except Exception as e:  # noqa: BLE001
            yield _message(f"Something went wrong ({type(e).__name__}: {e})."), None
        finally:  # Stop closes this generator: the worker stops at its next line
            if job is not None:
                job.cancel()

    def _markdown_file(self, b) -> str:
        """The briefing's Markdown download, in this process's own folder, which keeps only the newest
        KEEP_DOWNLOADS files (the web server has its own copy once it is sent) and goes when the app exits."""
        folder = _downloads_folder() / uuid.uuid4().hex[:12]
        folder.mkdir(parents=True)
        path = folder / download_name(b.subject)
        path.write_text(b.to_markdown(), encoding="utf-8")
        old = sorted(_downloads_folder().iterdir(), key=lambda p: p.stat().st_mtime)[:-KEEP_DOWNLOADS]
        for stale in old:
            shutil.rmtree(stale, ignore_errors=True)
        return str(path)

    # ------------------------------------------------------------ corpus

    def upload(self, files: list[str] | None, replace: bool = False):
        """Add files one by one, streaming "chunks embedded / total"; bad files never stop the rest.

        A file is checked before it is copied, a taken name gets a suffix unless ``replace``,
        and a failed or stopped upload puts everything back as it was (see rag.uploads).
        """
        files = files or []
        if not files:
            yield "Choose .txt, .md or .html files first.", self.corpus_rows(), gr.update()
            return
        store = UploadStore(self.settings.uploads_dir)
        yield from self._adding(files, lambda f: self._kept_upload(store, f, replace), store)

    def add_url(self, url: str | None):
        """Fetch a web page (checked as rag.web says: public addresses only, redirects re-checked) and index it."""
        url = (url or "").strip()
        if not url:
            yield "Type the address of a web page first (https://…).", self.corpus_rows(), gr.update()
            return
        yield from self._adding([url], lambda u: (u, None, {"via": "url"}), None)

    def _kept_upload(self, store: UploadStore, f: str, replace: bool):
        """(what to index, the kept upload, origin) for one uploaded file; raises before anything is stored."""
        name = Path(str(f)).name
        kept = store.keep(received(f, self.upload_root), name, replace)
        return kept.path, kept, {"via": "upload", "name": name}

    def _adding(self, items: list[str], prepare, store: UploadStore | None):
        """Index items one by one, streaming "chunks embedded / total"; bad items never stop the rest.

        A file is checked before it is copied, a taken name gets a suffix unless asked to replace,
        and a failed or stopped addition puts everything back as it was (see rag.uploads).
        """
        lines: list[str] = []
        indexed = False  # anything added: the background pass translates it
        self._cancel = threading.Event()
        with self._ingest_lock:
            for item in items:
                shown = md_escape(Path(item).name if store else item)
                try:
                    source, kept, origin = prepare(item)
                except UploadRefused as e:
                    lines.append(f"- ✗ {md_escape(str(e))} (nothing was read or changed)")
                    yield "\n".join(lines), gr.update(), gr.update()
                    continue
                except (IngestFileError, OSError) as e:
                    lines.append(f"- ✗ {shown}: {md_escape(str(e))} (nothing was changed)")
                    yield "\n".join(lines), gr.update(), gr.update()
                    continue
                job = _Job(lambda p, s=source, o=origin: self.isnad.ingest(
                    [s], on_progress=p, cancel=self._cancel, origin=o))
                while job.running():
                    yield "\n".join(lines + [f"- … {shown}: {job.status()}"]), gr.update(), gr.update()
                if job.error is not None or job.result.errors:
                    if kept is not None:
                        store.rollback(kept)
                    why = str(job.error) if job.error is not None else "; ".join(e.reason for e in job.result.errors)
                    lines.append(f"- ✗ {shown}: {md_escape(why)} (nothing was changed)")
                    continue
                if kept is not None:
                    store.commit(kept)
                indexed = True
                r = job.result.report
                what = "added" if r.added else ("replaced" if r.replaced else "already indexed (same text)")
                renamed = kept is not None and kept.renamed
                as_name = f" as {md_escape(kept.path.name)} (that name held a different article)" if renamed else ""
                lines.append(f"- ✓ {shown}: {what}{as_name}, {r.n_chunks} chunk{'' if r.n_chunks == 1 else 's'}")
        if self.isnad.generator is not None and indexed and self.settings.pretranslate:
            threading.Thread(target=pretranslate, args=(self.isnad,), name="isnad-pretranslate").start()
        yield "\n".join(lines), self.corpus_rows(), gr.update(choices=self.article_choices())

    def stop_upload(self) -> None:
        """Stop the running upload between two batches; the index stays as it was."""
        if self._cancel is not None:
            self._cancel.set()

    # ------------------------------------------------------------ layout

    def build(self) -> gr.Blocks:
        gen_label = ("local Qwen2.5-Coder-1.5B (machine-generated)" if self.settings.generator == "local"
                     else ("configured by the operator" if self.settings.llm_base_url else "none configured"))
        allow = self.settings.allow_user_endpoints
        ui: list[tuple[gr.components.Component | gr.Tab, dict[str, tuple]]] = []

        def t(component, **texts):  # a component whose texts follow the interface language: {key: (en, ar)}
            ui.append((component, texts))
            return component

        with gr.Blocks(title="Isnad — إسناد", analytics_enabled=False) as demo:
            with gr.Row(equal_height=True):
                with gr.Column(scale=4, min_width=300):
                    t(gr.Markdown("### Isnad · cited answers and briefings from news articles", elem_id="isnad-title"),
                      value=("### Isnad · cited answers and briefings from news articles",
                             "### إسناد · إجابات وموجزات موثقة من المقالات الإخبارية"))
                ui_lang = gr.Radio([("English", "en"), ("العربية", "ar")], value="en", label="Interface language",
                                   show_label=False, elem_id="isnad-ui-lang", scale=1, min_width=200, container=False)
            problem = self.index_problem()
            with gr.Row():
                health = gr.Markdown(problem, elem_id="isnad-health")
                fix = t(gr.Button("Repair index", elem_id="isnad-repair", visible=bool(problem), scale=0),
                        value=("Repair index", "أصلح الفهرس"))
            with gr.Tabs():
                with t(gr.Tab("Ask & brief", elem_id="isnad-tab-ask"), label=("Ask & brief", "اسأل ولخّص")):
                    with gr.Row(equal_height=False, elem_id="isnad-main"):
                        with gr.Column(scale=1, min_width=340):
                            chat = t(gr.Chatbot(label="Chat", show_label=False, elem_id="isnad-chat", height=430, buttons=["copy"],
                                                latex_delimiters=[], autoscroll=False, layout="panel"),
                                     label=("Chat", "المحادثة"))
                            with gr.Row():
                                box = t(gr.Textbox(label="Your question", show_label=False, scale=5,
                                                   placeholder="Ask in Arabic or English", elem_id="isnad-question",
                                                   max_lines=6, rtl=False),
                                        placeholder=("Ask in Arabic or English", "اسأل بالعربية أو الإنجليزية"),
                                        label=("Your question", "سؤالك"))
                                send = t(gr.Button("Ask", variant="primary", scale=1, elem_id="isnad-ask"),
                                         value=("Ask", "اسأل"))
                            with gr.Row():
                                stop = t(gr.Button("Stop", elem_id="isnad-stop-chat", variant="stop", size="sm", min_width=80),
                                         value=("Stop", "أوقف"))
                                again = t(gr.Button("Regenerate", elem_id="isnad-regenerate", size="sm", min_width=80),
                                          value=("Regenerate", "أعد الإجابة"))
                                clear = t(gr.Button("Clear chat", elem_id="isnad-clear", size="sm", min_width=80),
                                          value=("Clear chat", "امسح المحادثة"))
                            sources = gr.HTML(sources_html(None, {}), elem_id="isnad-sources")
                            examples = gr.Dataset(components=[gr.Textbox(visible=False)], samples=[[e] for e in EXAMPLES],
                                                  label="Examples", elem_id="isnad-examples")
                            t(examples, label=("Examples", "أمثلة"))
                        with gr.Column(scale=1, min_width=340):
                            with gr.Row():
                                scope = t(gr.Radio(list(SCOPES), value="All articles", label="Scope", elem_id="isnad-scope"),
                                          label=("Scope", "النطاق"),
                                          choices=([(x, x) for x in SCOPES], list(zip(("كل المقالات", "مقال", "موضوع"), SCOPES))))
                                lang = t(gr.Radio([("Arabic", "ar"), ("English", "en"), ("Both", "both")], value="both",
                                                  label="Language", elem_id="isnad-lang"),
                                         label=("Language", "اللغة"),
                                         choices=([("Arabic", "ar"), ("English", "en"), ("Both", "both")],
                                                  [("العربية", "ar"), ("الإنجليزية", "en"), ("كلتاهما", "both")]))
                                length = t(gr.Radio(["short", "medium", "long"], value="medium", label="Length"),
                                           label=("Length", "الطول"),
                                           choices=([(x, x) for x in LENGTH_CHOICES],
                                                    list(zip(("قصير", "متوسط", "طويل"), LENGTH_CHOICES))))
                            article = t(gr.Dropdown(self.article_choices(), label="Article", elem_id="isnad-article"),
                                        label=("Article", "المقال"))
                            topic = t(gr.Textbox(label="Topic", placeholder="US troop withdrawal from Iraq",
                                                 elem_id="isnad-topic"),
                                      label=("Topic", "الموضوع"),
                                      placeholder=("US troop withdrawal from Iraq", "انسحاب القوات الأمريكية من العراق"))
                            with gr.Row():
                                make = t(gr.Button("Make briefing", variant="primary", elem_id="isnad-brief-btn", scale=3),
                                         value=("Make briefing", "أنشئ الموجز"))
                                stop_brief = t(gr.Button("Stop", variant="stop", elem_id="isnad-stop-brief", scale=1),
                                               value=("Stop", "أوقف"))
                            briefing = gr.HTML(elem_id="isnad-briefing")
                            download = t(gr.File(label="Download (Markdown)", elem_id="isnad-download"),
                                         label=("Download (Markdown)", "تنزيل (Markdown)"))
                with t(gr.Tab("Corpus", elem_id="isnad-tab-corpus"), label=("Corpus", "المقالات")):
                    table = gr.Dataframe(self.corpus_rows(), headers=list(CORPUS_COLUMNS), interactive=False, wrap=True,
                                         elem_id="isnad-corpus", column_widths=["34%", "14%", "11%", "7%", "20%", "14%"])
                    files = t(gr.File(file_count="multiple", file_types=[".txt", ".md", ".html"], type="filepath",
                                      label="Add .txt, .md or .html articles", elem_id="isnad-upload"),
                              label=("Add .txt, .md or .html articles", "أضف مقالات بصيغة ‎.txt أو ‎.md أو ‎.html"))
                    replace = t(gr.Checkbox(False, label=REPLACE[0], elem_id="isnad-replace"), label=REPLACE)
                    with gr.Row():
                        add = t(gr.Button("Add to index", elem_id="isnad-add"), value=("Add to index", "أضف إلى الفهرس"))
                        stop_add = t(gr.Button("Stop indexing", elem_id="isnad-stop", variant="stop"),
                                     value=("Stop indexing", "أوقف الفهرسة"))
                    with gr.Row():
                        url = t(gr.Textbox("", label="Or add a web page by its address", placeholder="https://…",
                                           elem_id="isnad-url", scale=4),
                                label=("Or add a web page by its address", "أو أضف صفحة ويب بعنوانها"))
                        add_url = t(gr.Button("Fetch and add", elem_id="isnad-add-url", scale=1),
                                    value=("Fetch and add", "اجلب وأضف"))
                    report = gr.Markdown(elem_id="isnad-upload-report")
                with t(gr.Tab("Settings", elem_id="isnad-tab-settings"), label=("Settings", "الإعدادات")):
                    engine = t(gr.Radio([EXTRACTIVE, GENERATIVE], value=EXTRACTIVE, label="Answer engine",
                                        elem_id="isnad-engine"), label=("Answer engine", "محرك الإجابة"))
                    endpoint = gr.Textbox("", label="OpenAI-compatible endpoint (/v1)",
                                          placeholder=f"default: {gen_label}", interactive=allow,
                                          elem_id="isnad-endpoint")
                    model = gr.Textbox("", label="Model", placeholder=self.settings.llm_model or "", interactive=allow)
                    api_key = gr.Textbox("", label="API key for that endpoint (this session only, never stored)",
                                         type="password", interactive=allow, elem_id="isnad-key")
                    gr.Markdown(
                        "Your own endpoint is used only with the key you type here, never the server's."
                        if allow else "This server uses the endpoint its operator configured; its key is never "
                                      "shown or sent anywhere else.")
                    k = t(gr.Slider(2, 20, value=self.settings.answer_k, step=1, label="Passages retrieved (top-k)"),
                          label=("Passages retrieved (top-k)", "المقاطع المسترجعة (top-k)"))
                    mode = t(gr.Radio(list(MODES), value=self.settings.retrieval_mode, label="Retrieval mode"),
                             label=("Retrieval mode", "طريقة الاسترجاع"))
            saved_chat = gr.BrowserState([], storage_key="isnad-chat")
            saved_ui = gr.BrowserState("", storage_key="isnad-ui")

            ask_inputs = [box, chat, engine, endpoint, model, api_key, k, mode]
            ask_outputs = [chat, sources, box]
            asking = [send.click(self.ask, ask_inputs, ask_outputs, api_name="ask", concurrency_limit=2),
                      box.submit(self.ask, ask_inputs, ask_outputs, api_name=False, concurrency_limit=2),
                      again.click(self.regenerate, ask_inputs[1:], ask_outputs, api_name=False, concurrency_limit=2)]
            for event in asking:  # the conversation survives a reload
                event.then(lambda h: h, chat, saved_chat, api_name=False, queue=False)
            stop.click(self.stopped, chat, chat, cancels=asking, api_name=False, queue=False).then(
                lambda h: h, chat, saved_chat, api_name=False, queue=False)
            clear.click(lambda: ([], sources_html(None, {}), []), None, [chat, sources, saved_chat], api_name=False,
                        queue=False)
            examples.click(lambda x: x[0], examples, box, api_name=False, queue=False)
            briefing_event = make.click(self.brief, [scope, article, topic, lang, length, engine, endpoint, model, api_key],
                                        [briefing, download], api_name="brief", concurrency_limit=1)
            stop_brief.click(None, None, None, cancels=[briefing_event], api_name=False, queue=False)
            add.click(self.upload, [files, replace], [report, table, article], api_name="upload", concurrency_limit=1)
            add_url.click(self.add_url, [url], [report, table, article], api_name="add_url", concurrency_limit=1)
            stop_add.click(self.stop_upload, None, None, api_name=False, concurrency_limit=None, queue=False)
            fix.click(self.repair, None, [health, fix, table, article], api_name="repair", concurrency_limit=1)
            components = [c for c, _ in ui]

            def relabel(choice: str):
                i = 1 if choice == "ar" else 0
                return [gr.update(**{key: pair[i] for key, pair in texts.items()}) for _, texts in ui] + [choice]

            ui_lang.change(relabel, ui_lang, components + [saved_ui], js=SET_DIRECTION, api_name=False, queue=False)
            demo.load(self.restore, [saved_chat, saved_ui], [chat, ui_lang], api_name=False)
            demo.load(self.corpus_rows, None, table, api_name="corpus")
        return demo

    def restore(self, saved_chat: list | None, saved_ui: str | None, request: gr.Request | None = None):
        """On (re)load: the saved conversation, and the saved interface language (else the browser's)."""
        choice = saved_ui if saved_ui in ("en", "ar") else "en"
        if not saved_ui and request is not None:
            choice = "ar" if (request.headers.get("accept-language") or "").lower().startswith("ar") else "en"
        return saved_chat or [], choice


class Stopped(Exception):
    """The user pressed Stop: a worker ends at its next progress report."""


class _Job:
    """Work on a worker thread, so the handler can stream its progress and a Stop button can end it."""

    def __init__(self, work, unit: str = "chunks"):
        self.done, self.total, self.unit = 0, 0, unit
        self.result, self.error = None, None
        self._stop = threading.Event()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True)
        self._thread.start()

    def _run(self, work) -> None:
        try:
            self.result = work(self._progress)
        except Exception as e:  # noqa: BLE001 (reported in the upload's line, never a traceback)
            self.error = e

    def _progress(self, done: int, total: int) -> None:
        if self._stop.is_set():
            raise Stopped("stopped")
        self.done, self.total = done, total

    def cancel(self) -> None:
        self._stop.set()

    def running(self, poll: float = 0.5) -> bool:
        self._thread.join(poll)
        return self._thread.is_alive()

    def status(self) -> str:
        if not self.unit:
            return f"{time.monotonic() - self._t0:.0f} s so far"
        if not self.total:
            return "reading and chunking…" if self.unit == "chunks" else "starting…"
        verb = "embedding " if self.unit == "chunks" else ""
        return f"{verb}{self.done} / {self.total} {self.unit} ({100 * self.done / self.total:.0f}%)"


def _ticking(items: Iterator, every: float = 1.0) -> Iterator:
    """``items`` from a worker thread, with ``None`` each ``every`` seconds of waiting (to update a clock)."""
    q: queue.Queue = queue.Queue()
    end = object()

    def run() -> None:
        try:
            for item in items:
                q.put(item)
        except Exception as e:  # noqa: BLE001 (re-raised in the handler)
            q.put(e)
        q.put(end)

    threading.Thread(target=run, daemon=True).start()
    while True:
        try:
            item = q.get(timeout=every)
        except queue.Empty:
            yield None
            continue
        if item is end:
            return
        if isinstance(item, Exception):
            raise item
        yield item


WORKING = {"en": "Searching the articles…", "ar": "جارٍ البحث في المقالات…"}
_WRITING = '<div class="isnad-block isnad-writing'


def _writing(status: str) -> str:
    """Work in progress under an answer: its own block, removed when the work ends or is stopped."""
    return f'{_WRITING} isnad-note" dir="ltr" lang="en">{escape(status)}</div>'


def _user(question: str) -> dict:
    return {"role": "user", "content": block(question, "isnad-q")}


def _bot(html: str) -> dict:
    return {"role": "assistant", "content": html}


def _content(message: dict) -> str:
    content = message.get("content", "")
    if not isinstance(content, str):
        content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content


def message_text(message: dict) -> str:
    """The words a chat message shows (its HTML's text; article text in it was escaped)."""
    return unescape(re.sub(r"<[^>]+>", "", _content(message)))


def download_name(subject: str, today: dt.date | None = None) -> str:
    """"isnad-briefing-us-troop-withdrawal-from-iraq-2026-11-25.md": the subject (any script) and the date."""
    slug = re.sub(r"[^\w]+", "-", subject.lower()).strip("-_")[:60].strip("-_") or "briefing"
    return f"isnad-briefing-{slug}-{(today or dt.date.today()).isoformat()}.md"


def _shorten(text: str, limit: int = 48) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


def _message(text: str) -> str:
    return block(f"⚠ {text}", "isnad-note")


def _warm(isnad: Isnad) -> None:
    """Load the model, the index and the briefing's sentence vectors before the first click."""
    try:
        isnad.extractive()
        isnad.briefer().brief(lang="ar", length="short", translate=False)
        _ = isnad.generator  # starts the local server loading, if configured
    except (IndexProblem, BriefingError, ValueError):
        pass


def _background_priority() -> None:
    """The calling thread at the lowest CPU priority (Linux threads have their own nice value)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):
        pass


def pretranslate(isnad: Isnad, readers: Readers = READERS) -> None:
    """With a generator configured, translate the corpus's sentences into the index's cache while the app
    runs, so briefings and answers show English at once. It runs at the lowest priority, waits while any
    reader's request runs, and stops between sentences once the app has exited."""
    _background_priority()
    with _PRETRANSLATING:  # one pass at a time; a pass after an upload finds the rest cached
        try:
            if isnad.generator is None:
                return
            readers.wait_idle()
            for _ in isnad.translate_corpus():
                if not threading.main_thread().is_alive():
                    return
                readers.wait_idle()  # a reader's question or briefing goes first
        except (IndexProblem, GeneratorUnavailable, ValueError):
            return  # answers and briefings translate on demand and say why they cannot


_PRETRANSLATING = threading.Lock()
KEEP_DOWNLOADS = 20


@functools.lru_cache(maxsize=1)
def _downloads_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="isnad-briefings-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def launch(settings: Settings | None = None, wait: bool = True) -> gr.Blocks:
    settings = settings or Settings()
    isnad = Isnad(settings)
    _ = isnad.embedder  # loaded before the first request: model loading is not safe beside inference
    # Not a daemon: torch aborts the process if it is still encoding when the interpreter exits.
    threading.Thread(target=_warm, args=(isnad,), name="isnad-warm").start()
    if settings.pretranslate:
        threading.Thread(target=pretranslate, args=(isnad,), name="isnad-pretranslate").start()
    demo = IsnadApp(isnad).build()
    auth = None
    if settings.auth_user and settings.auth_password:
        auth = (settings.auth_user, settings.auth_password.get_secret_value())
    demo.queue(default_concurrency_limit=2, max_size=128).launch(
        server_name=settings.host, server_port=settings.port, auth=auth, show_error=False, css=CSS,
        max_file_size=MAX_FILE_BYTES,  # larger request bodies are refused before they reach the disk
        prevent_thread_lock=not wait, quiet=not wait, footer_links=["gradio"], head=HEAD,
    )
    return demo


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Serve the Isnad app (127.0.0.1 by default).")
    p.add_argument("--host", help="bind address (default $ISNAD_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default $ISNAD_PORT or 7860)")
    p.add_argument("--index-dir", help="index folder (default $ISNAD_INDEX_DIR or data/index)")
    args = p.parse_args(argv)
    overrides = {k: v for k, v in {"host": args.host, "port": args.port, "index_dir": args.index_dir}.items() if v}
    launch(Settings(**overrides))


if __name__ == "__main__":
    main()
