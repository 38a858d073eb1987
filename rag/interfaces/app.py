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
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from rag.answers.answer import question_language, validate_question
from rag.answers.conversation import Conversation
from rag.answers.generative import GenerativeEngine
from rag.briefing.generative import GenerativeBriefer  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.errors import (
    BriefingError,
    EndpointRefused,
    GeneratorUnavailable,
    IndexMissingError,
    IndexProblem,
    QuestionError,
)
from rag.ingest.files import MAX_FILE_BYTES  # noqa: E402
from rag.interfaces.api import install
from rag.interfaces.background import Job, for_readers, new_download_folder, pretranslate, ticking, warm
from rag.interfaces.corpus import CorpusHandlers
from rag.interfaces.layout import EXTRACTIVE, GENERATIVE, build
from rag.interfaces.messages import (
    WORKING,
    WRITING_MARK,
    bot_message,
    content_of,
    download_name,
    message_text,
    notice_message,
    shorten,
    user_message,
    writing,
)
from rag.models.llm import Generator, user_generator  # noqa: E402
from rag.pipeline import Isnad  # noqa: E402
from rag.rendering.html import CSS, HEAD, answer_card, block, briefing_html, sources_html  # noqa: E402
from rag.rendering.markdown import render_markdown
from rag.types import Answer, Query


@dataclass
class _Turn:
    """One question's place in the chat: the history it extends, its answer's id, the documents cited."""

    history: list
    aid: str
    docs: dict
    answer: Answer  # the extractive answer already shown


class IsnadApp(CorpusHandlers):
    """The handlers behind the UI; each returns messages, never tracebacks."""

    def __init__(self, isnad: Isnad, upload_root: str | Path | None = None):
        self.isnad = isnad
        # Only files inside the folder the web server writes request bodies to count as uploads.
        self.upload_root = Path(upload_root or gr.utils.get_upload_folder())
        self.settings = isnad.settings
        self._ingest_lock = threading.Lock()
        self._cancel: threading.Event | None = None
        self._endpoints: dict[tuple[str, str], Generator] = {}
        self.workbench = None  # the Evaluate and Retrieval test tabs (rag.interfaces.workbench), set by build

    # ------------------------------------------------------------ helpers

    def generator(
        self, endpoint: str | None, model: str | None, api_key: str | None = None
    ) -> Generator | None:
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

    def article_choices(self) -> list[tuple[str, str]]:
        # The title first, short enough for the box, isolated (U+2068…U+2069) so the file name keeps its place
        return [
            (f"\u2068{shorten(d.title or '(untitled)')}\u2069 — {Path(d.source).name}", d.doc_id)
            for d in self.docs().values()
        ]

    # ------------------------------------------------------------ chat

    @for_readers
    def ask(
        self,
        question: str,
        history: list,
        engine: str,
        endpoint: str,
        model: str,
        api_key: str,
        k: int,
        mode: str,
    ):
        """Stream: the extractive answer card at once, then translations or the verified generated answer.

        Earlier questions come from the chat history itself, so a cleared chat starts afresh.
        """
        history = list(history or [])
        asked = [message_text(m) for m in history if m.get("role") == "user"]
        question = question or ""
        try:
            question = validate_question(question, self.settings)
        except QuestionError as e:
            history += [
                user_message(question.strip()[:300] or "…"),
                bot_message(block(f"⚠ {e}", "isnad-note")),
            ]
            yield history, gr.update(), question
            return
        lang = "ar" if question_language(question) == "ar" else "en"
        history += [user_message(question), bot_message(block(WORKING[lang], "isnad-note", lang))]
        yield history, gr.update(), ""
        aid = uuid.uuid4().hex[:10]
        try:
            extractive = self.isnad.extractive()
            query = Query(
                question,
                Conversation(extractive, history=asked).retrieval_query(question),
                k=int(k),
                mode=mode,
            )
            answer = extractive.answer(query, translate=False)
            docs = self.docs()
            history[-1] = bot_message(answer_card(answer, aid))
            yield history, sources_html(answer, docs, aid), ""
            try:
                gen = self.generator(endpoint, model, api_key)
            except EndpointRefused as e:  # the extractive answer stands; say why nothing else was called
                history[-1] = bot_message(
                    answer_card(answer, aid)
                    + block(f"⚠ Your endpoint was not used: {e}.", "isnad-note", "en")
                )
                yield history, gr.update(), ""
                return
            if engine == GENERATIVE and gen is None:
                history[-1] = bot_message(
                    answer_card(answer, aid)
                    + block(
                        "No generator is configured (set ISNAD_GENERATOR=local or ISNAD_LLM_BASE_URL, or type an "
                        "endpoint in Settings); this is the extractive answer.",
                        "isnad-note",
                        "en",
                    )
                )
                yield history, gr.update(), ""
                return
            if engine == EXTRACTIVE or answer.abstained:
                # checked renderings, or the notice that there are none
                if extractive.needs_translation(answer):
                    if extractive.translates(gen):
                        history[-1] = bot_message(
                            answer_card(answer, aid)
                            + writing(
                                f"Adding English machine translations by {gen.label} (about 5–10 s a quote)…"
                            )
                        )
                        yield history, gr.update(), ""
                    extractive.translate(answer, gen)
                    history[-1] = bot_message(answer_card(answer, aid))
                    yield history, sources_html(answer, docs, aid), ""
                return
            yield from self._generate(
                query, GenerativeEngine(extractive, gen, self.settings), _Turn(history, aid, docs, answer)
            )
        except IndexMissingError:
            history[-1] = bot_message(
                block(
                    "⚠ There is no index yet. Add articles in the Corpus tab, or run `isnad ingest seeds/`.",
                    "isnad-note",
                    "en",
                )
            )
            yield history, gr.update(), ""
        except (IndexProblem, GeneratorUnavailable, ValueError) as e:
            history[-1] = bot_message(block(f"⚠ {e}", "isnad-note"))
            yield history, gr.update(), ""
        except Exception as e:  # noqa: BLE001 (the UI shows a message, never a traceback)
            history[-1] = bot_message(
                block(
                    f"⚠ Something went wrong ({type(e).__name__}: {e}). Your question was kept.",
                    "isnad-note",
                    "en",
                )
            )
            yield history, gr.update(), question

    def _generate(self, query: Query, engine: GenerativeEngine, turn: _Turn) -> Iterator[tuple]:
        """The generated answer, streamed under the extractive card: the wait announced, then tokens counted."""
        history, aid, docs, gen = turn.history, turn.aid, turn.docs, engine.generator
        first = answer_card(turn.answer, aid)
        stream = engine.stream(query)
        written, t0 = "", time.monotonic()
        expect = (
            "it usually starts writing after 20–40 s on this machine"
            if self.settings.generator == "local"
            else "it usually starts within a few seconds"
        )
        for item in ticking(stream):
            if item is None or isinstance(item, str):
                written += item or ""
                if written:
                    status = (
                        f"{gen.label}, writing (not yet verified), {len(written.split())} words: {written}"
                    )
                else:
                    status = f"{gen.label} is reading the sources; {expect} (waited {time.monotonic() - t0:.0f} s)."
                history[-1] = bot_message(first + writing(status))
                yield history, gr.update(), ""
            else:
                history[-1] = bot_message(answer_card(item, aid))
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
            content = content_of(history[-1])
            kept = content.split(WRITING_MARK, 1)[0]
            if 'class="isnad-card' not in kept:
                kept = ""
            history[-1] = bot_message(kept + block("Stopped. · أُوقف.", "isnad-note", "en"))
        return history

    # ------------------------------------------------------------ briefing

    @for_readers
    def brief(
        self,
        scope: str,
        article: str | None,
        topic: str,
        lang: str,
        length: str,
        engine: str,
        endpoint: str,
        model: str,
        api_key: str,
    ):
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
                job = Job(
                    lambda _: GenerativeBriefer(briefer, gen, self.settings).brief(
                        articles, topic if scope == "Topic" else None, lang, length
                    ),
                    unit="",
                )
                while job.running(poll=1.0):
                    yield (
                        notice_message(f"{gen.label} is writing the briefing: {job.status()}")
                        + briefing_html(b, docs, bid),
                        None,
                    )
            elif any(line.language != lang and not line.see for line in b.lines()):
                job = Job(
                    lambda progress: briefer.translate(b, gen, on_line=progress), unit="lines translated"
                )
                while job.running(poll=1.0):  # lines are filled in place: show each as it comes
                    yield (
                        notice_message(f"Machine translation by {gen.label}: {job.status()}")
                        + briefing_html(b, docs, bid),
                        None,
                    )
            else:
                return
            if job.error is not None:
                raise job.error
            b = job.result
            yield briefing_html(b, docs, bid), self._markdown_file(b)
        except IndexMissingError:
            yield notice_message("There is no index yet: add articles in the Corpus tab."), None
        except (BriefingError, IndexProblem, GeneratorUnavailable, ValueError) as e:
            yield notice_message(str(e)), None
        except Exception as e:  # noqa: BLE001
            yield notice_message(f"Something went wrong ({type(e).__name__}: {e})."), None
        finally:  # Stop closes this generator: the worker stops at its next line
            if job is not None:
                job.cancel()

    def _markdown_file(self, b) -> str:
        """The briefing's Markdown download, in this process's own folder, which keeps only the newest
        KEEP_DOWNLOADS files (the web server has its own copy once it is sent) and goes when the app exits."""
        path = new_download_folder() / download_name(b.subject)
        path.write_text(render_markdown(b), encoding="utf-8")
        return str(path)

    # ------------------------------------------------------------ corpus

    # ------------------------------------------------------------ layout

    def build(self) -> gr.Blocks:
        return build(self)

    def restore(self, saved_chat: list | None, saved_ui: str | None, request: gr.Request | None = None):
        """On (re)load: the saved conversation, and the saved interface language (else the browser's)."""
        choice = saved_ui if saved_ui in ("en", "ar") else "en"
        if not saved_ui and request is not None:
            choice = "ar" if (request.headers.get("accept-language") or "").lower().startswith("ar") else "en"
        return saved_chat or [], choice


def launch(settings: Settings | None = None, wait: bool = True) -> gr.Blocks:
    settings = settings or Settings()
    isnad = Isnad(settings)
    _ = isnad.embedder  # loaded before the first request: model loading is not safe beside inference
    # Not a daemon: torch aborts the process if it is still encoding when the interpreter exits.
    threading.Thread(target=warm, args=(isnad,), name="isnad-warm").start()
    if settings.pretranslate:
        threading.Thread(target=pretranslate, args=(isnad,), name="isnad-pretranslate").start()
    ui = IsnadApp(isnad)
    demo = ui.build()
    auth = None
    if settings.auth_user and settings.auth_password:
        auth = (settings.auth_user, settings.auth_password.get_secret_value())
    demo.queue(default_concurrency_limit=2, max_size=128).launch(
        server_name=settings.host,
        server_port=settings.port,
        auth=auth,
        show_error=False,
        css=CSS,
        max_file_size=MAX_FILE_BYTES,  # larger request bodies are refused before they reach the disk
        prevent_thread_lock=True,
        quiet=not wait,
        footer_links=["gradio"],
        head=HEAD,
    )
    install(demo.app, isnad, ui._ingest_lock)  # /api/v1 and /v1 on the same server (rag.interfaces.api)
    if wait:
        demo.block_thread()
    return demo


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Serve the Isnad app (127.0.0.1 by default).")
    p.add_argument("--host", help="bind address (default $ISNAD_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default $ISNAD_PORT or 7860)")
    p.add_argument("--index-dir", help="index folder (default $ISNAD_INDEX_DIR or data/index)")
    args = p.parse_args(argv)
    overrides = {
        k: v for k, v in {"host": args.host, "port": args.port, "index_dir": args.index_dir}.items() if v
    }
    launch(Settings(**overrides))


if __name__ == "__main__":
    main()
