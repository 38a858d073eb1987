"""Isnad's Gradio app: cited chat on the left, bilingual briefings on the right.

Offline by default: extractive answers and briefings need no LLM and appear at once.
A generator (the embedded local model or any OpenAI-compatible endpoint) then adds,
without blocking, labelled machine translations or a verified generated answer.
Binds 127.0.0.1 unless told otherwise; analytics off; every failure becomes a message.

    python app.py [--host 127.0.0.1] [--port 7860] [--index-dir data/index]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import threading
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from rag.answer import Conversation, GenerativeEngine, QuestionError, validate_question  # noqa: E402
from rag.brief import BriefingError, GenerativeBriefer  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.escape import md_escape, md_unescape  # noqa: E402
from rag.index import IndexMissingError, IndexProblem  # noqa: E402
from rag.ingest import IngestFileError  # noqa: E402
from rag.llm import EndpointRefused, Generator, GeneratorUnavailable, user_generator  # noqa: E402
from rag.pipeline import Isnad  # noqa: E402
from rag.render import CSS, answer_markdown, briefing_html, sources_html  # noqa: E402
from rag.retrieve import MODES  # noqa: E402
from rag.uploads import UploadStore  # noqa: E402

EXTRACTIVE = "Extractive (offline, quotes only)"
GENERATIVE = "Generator (machine-written, verified)"
SCOPES = ("All articles", "Article", "Topic")
EXAMPLES = [
    "When did Iraq and the US agree to redeploy coalition forces outside the country?",
    "How many coalition troops remain in Iraq, and how many are American?",
    "متى اتفق العراق والولايات المتحدة على انسحاب القوات القتالية؟",
    "ماذا قال البنتاغون عن المحادثات مع العراق في يناير 2024؟",
]


class IsnadApp:
    """The handlers behind the UI; each returns messages, never tracebacks."""

    def __init__(self, isnad: Isnad):
        self.isnad = isnad
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
            return self.isnad.index.docs
        except IndexProblem:
            return {}

    def corpus_rows(self) -> list[list]:
        try:
            stats = self.isnad.index.stats()
        except IndexProblem:  # missing or damaged: the banner above the tabs says which, and offers the repair
            return []
        return [[d["title"] or "(untitled)", d["outlet"] or "unknown", d["date"] or "unknown", d["chunks"],
                 Path(d["source"]).name, d["doc_id"], d["arrival"]] for d in stats["per_document"]]

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
        return [(f"{Path(d.source).name} — {d.title or '(untitled)'}", d.doc_id) for d in self.docs().values()]

    # ------------------------------------------------------------ chat

    def ask(self, question: str, history: list, engine: str, endpoint: str, model: str, api_key: str, k: int,
            mode: str):
        """Stream: the extractive answer at once, then translations or the verified generated answer.

        Earlier questions come from the chat history itself, so a cleared chat starts afresh.
        """
        history = list(history or [])
        asked = [message_text(m) for m in history if m.get("role") == "user"]
        question = question or ""
        try:
            question = validate_question(question, self.settings)
        except QuestionError as e:
            history += [{"role": "user", "content": md_escape(question.strip()[:300]) or "…"},
                        {"role": "assistant", "content": f"⚠ {md_escape(str(e))}"}]
            yield history, gr.update(), question
            return
        history += [{"role": "user", "content": md_escape(question)}, {"role": "assistant", "content": "…"}]
        yield history, gr.update(), ""
        try:
            extractive = self.isnad.extractive()
            query = Conversation(extractive, history=asked).retrieval_query(question)
            answer = extractive.answer(question, retrieval_query=query, k=int(k), mode=mode, translate=False)
            docs = self.docs()
            history[-1]["content"] = answer_markdown(answer)
            yield history, sources_html(answer, docs), ""
            try:
                gen = self.generator(endpoint, model, api_key)
            except EndpointRefused as e:  # the extractive answer stands; say why nothing else was called
                history[-1]["content"] += f"\n\n_⚠ {md_escape(f'Your endpoint was not used: {e}.')}_"
                yield history, gr.update(), ""
                return
            if engine == GENERATIVE and gen is None:
                history[-1]["content"] += ("\n\n_No generator is configured (set ISNAD_GENERATOR=local or "
                                           "ISNAD_LLM_BASE_URL, or type an endpoint in Settings); this is the "
                                           "extractive answer._")
                yield history, gr.update(), ""
                return
            if engine == EXTRACTIVE or answer.abstained:
                if extractive.needs_translation(answer):  # checked renderings, or the notice that there are none
                    if gen is not None:
                        history[-1]["content"] += "\n\n_Adding English machine translations…_"
                        yield history, gr.update(), ""
                    extractive.translate(answer, gen)
                    history[-1]["content"] = answer_markdown(answer)
                    yield history, sources_html(answer, docs), ""
                return
            first = history[-1]["content"]
            written = ""
            for item in GenerativeEngine(extractive, gen, self.settings).stream(
                    question, retrieval_query=query, k=int(k), mode=mode):
                if isinstance(item, str):
                    written += item
                    history[-1]["content"] = (f"{first}\n\n---\n**{md_escape(gen.label)}, writing (not yet "
                                              f"verified):** {md_escape(written)}")
                    yield history, gr.update(), ""
                else:
                    history[-1]["content"] = answer_markdown(item)
                    yield history, sources_html(item, docs), ""
        except IndexMissingError:
            history[-1]["content"] = ("⚠ There is no index yet. Add articles in the Corpus tab, or run "
                                      "`isnad ingest seeds/`.")
            yield history, gr.update(), ""
        except (IndexProblem, GeneratorUnavailable, ValueError) as e:
            history[-1]["content"] = f"⚠ {md_escape(str(e))}"
            yield history, gr.update(), ""
        except Exception as e:  # noqa: BLE001 (the UI shows a message, never a traceback)
            history[-1]["content"] = f"⚠ {md_escape(f'Something went wrong ({type(e).__name__}: {e}).')} Your question was kept."
            yield history, gr.update(), question

    # ------------------------------------------------------------ briefing

    def brief(self, scope: str, article: str | None, topic: str, lang: str, length: str, engine: str,
              endpoint: str, model: str, api_key: str):
        """Stream: the extractive briefing at once, then its translations (or the generated version)."""
        try:
            articles = [article] if scope == "Article" and article else None
            if scope == "Article" and not article:
                raise BriefingError("choose an article first")
            if scope == "Topic" and not (topic or "").strip():
                raise BriefingError("type a topic first, e.g. US troop withdrawal from Iraq")
            briefer = self.isnad.briefer("extractive")
            b = briefer.brief(articles, topic if scope == "Topic" else None, lang, length, translate=False)
            yield briefing_html(b), self._markdown_file(b)
            gen = self.generator(endpoint, model, api_key)
            if gen is None:
                return
            if engine == GENERATIVE:
                b = GenerativeBriefer(briefer, gen, self.settings).brief(
                    articles, topic if scope == "Topic" else None, lang, length)
            elif any(line.language != lang for line in b.lines()):
                job = _Job(lambda progress: briefer.translate(b, gen, on_line=progress), unit="lines translated")
                while job.running(poll=1.0):  # lines are filled in place: show each as it comes
                    yield _message(f"Machine translation by {gen.label}: {job.status()}") + briefing_html(b), None
                if job.error is not None:
                    raise job.error
            else:
                return
            yield briefing_html(b), self._markdown_file(b)
        except IndexMissingError:
            yield _message("There is no index yet: add articles in the Corpus tab."), None
        except (BriefingError, IndexProblem, GeneratorUnavailable, ValueError) as e:
            yield _message(str(e)), None
        except Exception as e:  # noqa: BLE001
            yield _message(f"Something went wrong ({type(e).__name__}: {e})."), None

    def _markdown_file(self, b) -> str:
        folder = Path(tempfile.mkdtemp(prefix="isnad-brief-"))
        path = folder / "isnad-briefing.md"
        path.write_text(b.to_markdown(), encoding="utf-8")
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
        lines: list[str] = []
        indexed = False  # any file added: the background pass translates it
        store = UploadStore(self.settings.uploads_dir)
        self._cancel = threading.Event()
        with self._ingest_lock:
            for f in files:
                name = Path(f).name
                shown = md_escape(name)
                try:
                    kept = store.keep(Path(f), name, replace)
                except (IngestFileError, OSError) as e:
                    lines.append(f"- ✗ {shown}: {md_escape(str(e))} (nothing was changed)")
                    yield "\n".join(lines), gr.update(), gr.update()
                    continue
                job = _Job(lambda p, k=kept: self.isnad.ingest(
                    [k.path], on_progress=p, cancel=self._cancel, origin={"via": "upload", "name": name}))
                while job.running():
                    yield "\n".join(lines + [f"- … {shown}: {job.status()}"]), gr.update(), gr.update()
                if job.error is not None or job.result.errors:
                    store.rollback(kept)
                    why = str(job.error) if job.error is not None else "; ".join(e.reason for e in job.result.errors)
                    lines.append(f"- ✗ {shown}: {md_escape(why)} (nothing was changed)")
                    continue
                store.commit(kept)
                indexed = True
                r = job.result.report
                what = "added" if r.added else ("replaced" if r.replaced else "already indexed (same text)")
                as_name = f" as {md_escape(kept.path.name)} (that name held a different article)" if kept.renamed else ""
                lines.append(f"- ✓ {shown}: {what}{as_name}, {r.n_chunks} chunks")
        if self.isnad.generator is not None and indexed:
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
        with gr.Blocks(title="Isnad — إسناد", analytics_enabled=False) as demo:
            gr.Markdown("## Isnad — إسناد · cited answers and briefings from news articles", elem_classes="isnad-bidi")
            problem = self.index_problem()
            with gr.Row():
                health = gr.Markdown(problem, elem_id="isnad-health")
                fix = gr.Button("Repair index / أصلح الفهرس", elem_id="isnad-repair", visible=bool(problem), scale=0)
            with gr.Tabs():
                with gr.Tab("Ask & brief / اسأل ولخّص"):
                    with gr.Row(equal_height=False):
                        with gr.Column(scale=1):
                            chat = gr.Chatbot(label="Chat / محادثة", elem_id="isnad-chat", height=460,
                                              latex_delimiters=[])  # "$$" in an article is text, not maths
                            with gr.Row():
                                box = gr.Textbox(placeholder="Ask in Arabic or English / اسأل بالعربية أو الإنجليزية",
                                                 show_label=False, scale=5, elem_id="isnad-question", rtl=False,
                                                 max_lines=6)
                                send = gr.Button("Ask / اسأل", variant="primary", scale=1, elem_id="isnad-ask")
                            gr.Examples(EXAMPLES, inputs=box, label="Examples / أمثلة")
                            sources = gr.HTML(sources_html(None, {}), label="Sources / المصادر",
                                              elem_id="isnad-sources")
                        with gr.Column(scale=1):
                            with gr.Row():
                                scope = gr.Radio(list(SCOPES), value="All articles", label="Scope / النطاق",
                                                 elem_id="isnad-scope")
                                lang = gr.Radio([("Arabic / عربي", "ar"), ("English", "en"), ("Both / كلاهما", "both")],
                                                value="both", label="Language / اللغة", elem_id="isnad-lang")
                                length = gr.Radio(["short", "medium", "long"], value="medium", label="Length / الطول")
                            article = gr.Dropdown(self.article_choices(), label="Article / المقال",
                                                  elem_id="isnad-article")
                            topic = gr.Textbox(label="Topic / الموضوع", placeholder="US troop withdrawal from Iraq",
                                               elem_id="isnad-topic")
                            make = gr.Button("Make briefing / أنشئ الموجز", variant="primary", elem_id="isnad-brief-btn")
                            briefing = gr.HTML(elem_id="isnad-briefing")
                            download = gr.File(label="Markdown", elem_id="isnad-download")
                with gr.Tab("Corpus / المقالات"):
                    table = gr.Dataframe(self.corpus_rows(), headers=["Title", "Outlet", "Date", "Chunks", "File", "Id", "Added"],
                                         interactive=False, wrap=True, elem_id="isnad-corpus")
                    files = gr.File(file_count="multiple", file_types=[".txt", ".md", ".html"], type="filepath",
                                    label="Add .txt, .md or .html articles", elem_id="isnad-upload")
                    replace = gr.Checkbox(False, label="Replace a stored file of the same name (otherwise the new "
                                                       "one is kept under a new name)", elem_id="isnad-replace")
                    with gr.Row():
                        add = gr.Button("Add to index / أضف", elem_id="isnad-add")
                        stop = gr.Button("Stop indexing / أوقف", elem_id="isnad-stop", variant="stop")
                    report = gr.Markdown(elem_id="isnad-upload-report")
                with gr.Tab("Settings / الإعدادات"):
                    engine = gr.Radio([EXTRACTIVE, GENERATIVE], value=EXTRACTIVE, label="Answer engine",
                                      elem_id="isnad-engine")
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
                    k = gr.Slider(2, 20, value=self.settings.answer_k, step=1, label="Passages retrieved (top-k)")
                    mode = gr.Radio(list(MODES), value=self.settings.retrieval_mode, label="Retrieval mode")
            ask_inputs = [box, chat, engine, endpoint, model, api_key, k, mode]
            ask_outputs = [chat, sources, box]
            send.click(self.ask, ask_inputs, ask_outputs, api_name="ask", concurrency_limit=2)
            box.submit(self.ask, ask_inputs, ask_outputs, api_name=False, concurrency_limit=2)
            make.click(self.brief, [scope, article, topic, lang, length, engine, endpoint, model, api_key],
                       [briefing, download], api_name="brief", concurrency_limit=1)
            add.click(self.upload, [files, replace], [report, table, article], api_name="upload", concurrency_limit=1)
            stop.click(self.stop_upload, None, None, api_name=False, concurrency_limit=None, queue=False)
            fix.click(self.repair, None, [health, fix, table, article], api_name="repair", concurrency_limit=1)
            demo.load(self.corpus_rows, None, table, api_name="corpus")
        return demo


class _Job:
    """An ingest on a worker thread, so the handler can stream its progress and the Stop button can end it."""

    def __init__(self, work, unit: str = "chunks"):
        self.done, self.total, self.unit = 0, 0, unit
        self.result, self.error = None, None
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True)
        self._thread.start()

    def _run(self, work) -> None:
        try:
            self.result = work(self._progress)
        except Exception as e:  # noqa: BLE001 (reported in the upload's line, never a traceback)
            self.error = e

    def _progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    def running(self, poll: float = 0.5) -> bool:
        self._thread.join(poll)
        return self._thread.is_alive()

    def status(self) -> str:
        if not self.total:
            return "reading and chunking…" if self.unit == "chunks" else "starting…"
        verb = "embedding " if self.unit == "chunks" else ""
        return f"{verb}{self.done} / {self.total} {self.unit} ({100 * self.done / self.total:.0f}%)"


def message_text(message: dict) -> str:
    """A chat message's text (Gradio may hand content back as a list of parts)."""
    content = message.get("content", "")
    if not isinstance(content, str):
        content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return md_unescape(content)  # shown escaped (see rag.escape); the words themselves go to retrieval


def _message(text: str) -> str:
    from html import escape

    return f'<div dir="auto" class="isnad-bidi isnad-note">⚠ {escape(text)}</div>'


def _warm(isnad: Isnad) -> None:
    """Load the model, the index and the briefing's sentence vectors before the first click."""
    try:
        isnad.extractive()
        isnad.briefer().brief(lang="ar", length="short", translate=False)
        _ = isnad.generator  # starts the local server loading, if configured
    except (IndexProblem, BriefingError, ValueError):
        pass


def pretranslate(isnad: Isnad) -> None:
    """With a generator configured, translate the corpus's sentences into the index's cache while the app
    runs, so briefings and answers show English at once. Stops between sentences once the app has exited."""
    with _PRETRANSLATING:  # one pass at a time; a pass after an upload finds the rest cached
        try:
            if isnad.generator is None:
                return
            for _ in isnad.translate_corpus():
                if not threading.main_thread().is_alive():
                    return
        except (IndexProblem, GeneratorUnavailable, ValueError):
            return  # answers and briefings translate on demand and say why they cannot


_PRETRANSLATING = threading.Lock()


def launch(settings: Settings | None = None, block: bool = True) -> gr.Blocks:
    settings = settings or Settings()
    isnad = Isnad(settings)
    _ = isnad.embedder  # loaded before the first request: model loading is not safe beside inference
    # Not a daemon: torch aborts the process if it is still encoding when the interpreter exits.
    threading.Thread(target=_warm, args=(isnad,), name="isnad-warm").start()
    threading.Thread(target=pretranslate, args=(isnad,), name="isnad-pretranslate").start()
    demo = IsnadApp(isnad).build()
    auth = None
    if settings.auth_user and settings.auth_password:
        auth = (settings.auth_user, settings.auth_password.get_secret_value())
    demo.queue(default_concurrency_limit=2, max_size=128).launch(
        server_name=settings.host, server_port=settings.port, auth=auth, show_error=False, css=CSS,
        prevent_thread_lock=not block, quiet=not block, footer_links=["gradio"],
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
