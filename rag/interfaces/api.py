"""Isnad over HTTP, served by the app's own process: a REST API under ``/api/v1`` and an
OpenAI-compatible chat endpoint under ``/v1`` (the model ``isnad``), so any chat client can ask.

Every call but ``/api/v1/health`` needs an API key from ``ISNAD_API_KEYS`` as ``Authorization: Bearer``;
with no key configured, only callers on this machine (127.0.0.1, ::1) are answered. Each key has a
rate limit (``429`` with ``Retry-After``). Errors are JSON: ``{"error": {"code": ..., "message": ...}}``
with the same message the app or the CLI gives. The server's generator key is never part of an answer.
"""

from __future__ import annotations

import functools
import inspect
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from rag.answers.conversation import Conversation
from rag.errors import (
    BriefingError,
    DocumentNotFound,
    EndpointRefused,
    GeneratorUnavailable,
    IndexBusyError,
    IndexMissingError,
    IndexProblem,
    IngestFileError,
    QuestionError,
    UploadRefused,
)
from rag.ingest.files import MAX_FILE_BYTES, megabytes
from rag.ingest.uploads import UploadStore
from rag.pipeline import Isnad
from rag.rendering.markdown import render_markdown
from rag.types import Answer, Filters

MAX_JSON_BYTES = 64 * 1024  # a question, a topic or a chat history; uploads have MAX_FILE_BYTES
LOOPBACK = ("127.0.0.1", "::1", "localhost")
MODELS = {"isnad": "extractive", "isnad-generative": "generative"}
COMPUTE_AT_ONCE = 2  # the app's queue runs two events at once (rag.interfaces.app.launch)


class ApiError(Exception):
    """An answer the API gives as JSON: an HTTP status, a stable code, the message."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


# The app's own errors, as the API reports them: (status, code).
ERRORS: list[tuple[type[Exception], int, str]] = [
    (QuestionError, 400, "invalid_question"),
    (BriefingError, 400, "invalid_briefing"),
    (UploadRefused, 400, "upload_refused"),
    (DocumentNotFound, 404, "document_not_found"),
    (IngestFileError, 422, "unreadable_input"),
    (IndexMissingError, 404, "no_index"),
    (IndexBusyError, 409, "busy"),
    (IndexProblem, 503, "index_problem"),
    (EndpointRefused, 400, "endpoint_refused"),
    (GeneratorUnavailable, 503, "generator_unavailable"),
]


def error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


# ---------------------------------------------------------------- keys and limits


class Keys:
    """The configured API keys (name:key pairs), each with its own request budget per minute."""

    def __init__(self, spec: str, per_minute: int):
        self.by_key: dict[str, str] = {}
        for pair in filter(None, (p.strip() for p in spec.split(","))):
            name, sep, key = pair.partition(":")
            if not sep or not key.strip():
                raise ValueError("ISNAD_API_KEYS must be name:key pairs separated by commas")
            self.by_key[key.strip()] = name.strip()
        self.per_minute = per_minute
        self._calls: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def caller(self, request: Request) -> str:
        """The name of the key the request carries (or "local"), after its rate limit; else an ApiError."""
        header = request.headers.get("authorization", "")
        if not self.by_key:
            host = request.client.host if request.client else ""
            if host not in LOOPBACK:
                raise ApiError(
                    403, "local_only", "no API key is configured, so the API answers this machine only"
                )
            name = "local"
        else:
            token = header[7:].strip() if header.lower().startswith("bearer ") else ""
            if token not in self.by_key:
                raise ApiError(
                    401,
                    "invalid_api_key",
                    "send a configured API key as 'Authorization: Bearer <key>'",
                    {"WWW-Authenticate": "Bearer"},
                )
            name = self.by_key[token]
        if self.by_key:  # a key's budget; this machine's own calls, with no key configured, are not counted
            self._count(name)
        return name

    def _count(self, name: str) -> None:
        at = time.monotonic()
        with self._lock:
            calls = self._calls.setdefault(name, deque())
            while calls and at - calls[0] >= 60:
                calls.popleft()
            if len(calls) >= self.per_minute:
                wait = max(1, int(61 - (at - calls[0])))
                raise ApiError(
                    429,
                    "rate_limited",
                    f"more than {self.per_minute} requests a minute; try again in {wait} s",
                    {"Retry-After": str(wait)},
                )
            calls.append(at)


def _small_body(request: Request) -> None:
    size = request.headers.get("content-length", "")
    if size.isdigit() and int(size) > MAX_JSON_BYTES:
        raise ApiError(413, "too_large", f"the request is over the limit of {MAX_JSON_BYTES // 1024} KB")


# ---------------------------------------------------------------- request and response models


class SearchRequest(BaseModel):
    query: str
    k: int = Field(5, ge=1, le=100)
    mode: Literal["hybrid", "dense", "bm25"] | None = None
    outlet: str | None = None
    date_from: str | None = Field(None, description="YYYY-MM-DD, inclusive")
    date_to: str | None = Field(None, description="YYYY-MM-DD, inclusive")


class AskRequest(BaseModel):
    question: str
    engine: Literal["extractive", "generative"] = "extractive"
    mode: Literal["hybrid", "dense", "bm25"] | None = None
    outlet: str | None = None
    date_from: str | None = Field(None, description="YYYY-MM-DD, inclusive (also `since`)")
    date_to: str | None = None


class BriefRequest(BaseModel):
    articles: list[str] | None = Field(None, description="document ids or file names; default: all")
    topic: str | None = None
    lang: Literal["ar", "en", "both"] = "both"
    length: Literal["short", "medium", "long"] = "medium"
    engine: Literal["extractive", "generative"] = "extractive"
    since: str | None = Field(None, description="articles published or added on or after YYYY-MM-DD")


class UrlRequest(BaseModel):
    url: str


class ChatMessage(BaseModel):
    role: str
    content: str | list[dict] | None = None


class ChatRequest(BaseModel):
    model: str = "isnad"
    messages: list[ChatMessage]
    stream: bool = False


# ---------------------------------------------------------------- the routes


def build_routers(isnad: Isnad, lock: threading.Lock | None = None) -> tuple[APIRouter, APIRouter]:
    """The REST router (``/api/v1``) and the OpenAI-compatible one (``/v1``) over one `Isnad`.

    ``lock`` is the app's writer lock for uploads, so the API and the page never ingest at once.
    """
    settings = isnad.settings
    keys = Keys(
        getattr(settings.api_keys, "get_secret_value", lambda: settings.api_keys or "")(),
        settings.api_rate_per_minute,
    )
    writing = lock or threading.Lock()
    # As many answers computed at once as the page's queue allows: more only share the same cores.
    computing = threading.BoundedSemaphore(COMPUTE_AT_ONCE)
    guarded = [Depends(keys.caller)]
    api = APIRouter(tags=["isnad"])
    openai = APIRouter(tags=["openai-compatible"])

    @api.get("/health")
    @as_api_errors
    def health() -> dict:
        """Whether the server answers, and whether an index is there."""
        try:
            return {"status": "ok", "documents": isnad.stats()["documents"]}
        except IndexMissingError:
            return {"status": "ok", "documents": 0}

    @api.get("/info", dependencies=guarded)
    @as_api_errors
    def info() -> dict:
        stats = isnad.stats()
        generator = isnad.generator
        return {
            "model": stats["model_id"],
            "documents": stats["documents"],
            "chunks": stats["chunks"],
            "chunker": stats["chunker"],
            "generator": generator.label if generator else None,
            "models": list(_models(isnad)),
        }

    @api.post("/search", dependencies=[*guarded, Depends(_small_body)])
    @as_api_errors
    def search(body: SearchRequest) -> dict:
        filters = Filters(body.outlet, body.date_from, body.date_to)
        with computing:
            hits = isnad.search(body.query, k=body.k, mode=body.mode, filters=filters if filters else None)
        return {"hits": [h.to_dict() for h in hits]}

    @api.post("/ask", dependencies=[*guarded, Depends(_small_body)])
    @as_api_errors
    def ask(body: AskRequest) -> dict:
        """The same fields as `isnad ask --json`."""
        filters = Filters(body.outlet, body.date_from, body.date_to)
        with computing:
            return isnad.ask(
                body.question, engine=body.engine, filters=filters or None, mode=body.mode
            ).to_dict()

    @api.post("/brief", dependencies=[*guarded, Depends(_small_body)])
    @as_api_errors
    def brief(body: BriefRequest) -> dict:
        with computing:
            b = isnad.brief(body.articles, body.topic, body.lang, body.length, body.engine, since=body.since)
        return {**b.to_dict(), "markdown": render_markdown(b)}

    @api.get("/documents", dependencies=guarded)
    @as_api_errors
    def documents() -> dict:
        return {"documents": isnad.stats()["per_document"]}

    @api.post("/documents", dependencies=guarded)
    @as_api_errors
    async def add(
        file: Annotated[UploadFile | None, File()] = None, url: Annotated[str | None, Form()] = None
    ) -> dict:
        """A file (multipart ``file``) or a web page (form field ``url``), indexed as the app indexes it."""
        if (file is None) == (not url):
            raise ApiError(400, "bad_request", "send either a file (multipart 'file') or a 'url' field")
        if url:  # embedding runs in a worker thread: the server's event loop keeps serving meanwhile
            return await run_in_threadpool(add_page, url)
        data = await file.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise ApiError(413, "too_large", f"the file is over the limit of {megabytes(MAX_FILE_BYTES)}")
        return await run_in_threadpool(add_file, data, file.filename or "")

    def add_file(data: bytes, name: str) -> dict:
        """Stored and indexed under the writer lock; a file the index refuses is taken back out."""
        store = UploadStore(settings.uploads_dir)
        with writing:
            kept = store.keep(data, name)
            try:
                summary = isnad.ingest([kept.path], origin={"via": "upload", "name": kept.path.name})
            except Exception:
                store.rollback(kept)
                raise
            if summary.errors:
                store.rollback(kept)
                raise IngestFileError("; ".join(e.reason for e in summary.errors))
            store.commit(kept)
        return _added(summary, kept.path.name)

    def add_page(url: str) -> dict:
        with writing:
            return _added(isnad.ingest([url.strip()]), url.strip())

    @api.post("/documents/url", dependencies=[*guarded, Depends(_small_body)])
    @as_api_errors
    def add_url(body: UrlRequest) -> dict:
        return add_page(body.url)

    @api.delete("/documents/{ref:path}", dependencies=guarded)
    @as_api_errors
    def delete(ref: str, purge: bool = False) -> dict:
        with writing:
            r = isnad.delete([ref], purge=purge)
        return {
            "removed": r.removed,
            "chunks": r.n_chunks,
            "trashed": r.trashed,
            "purged": r.purged,
            "left": r.left,
        }

    @openai.get("/models", dependencies=guarded)
    @as_api_errors
    def models() -> dict:
        return {
            "object": "list",
            "data": [{"id": m, "object": "model", "created": 0, "owned_by": "isnad"} for m in _models(isnad)],
        }

    @openai.post("/chat/completions", dependencies=[*guarded, Depends(_small_body)])
    @as_api_errors
    def chat(body: ChatRequest):
        """The last user message answered from the articles; earlier ones give a follow-up its context.
        The answer cites [n]; the ``isnad`` field of the reply (and of the last streamed chunk) holds the
        sources, the short answer and the notices."""
        if body.model not in _models(isnad):
            raise ApiError(404, "model_not_found", f"no model '{body.model}'; GET /v1/models lists them")
        asked = [_text(m.content) for m in body.messages if m.role == "user"]
        if not asked or not asked[-1].strip():
            raise ApiError(400, "invalid_question", "the last user message is empty")
        engine = isnad.engine(MODELS[body.model])
        with computing:
            answer = Conversation(engine, history=asked[:-1]).ask(asked[-1])
        reply_id, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        if body.stream:
            return StreamingResponse(
                _chunks(answer, reply_id, created, body.model), media_type="text/event-stream"
            )
        return {
            "id": reply_id,
            "object": "chat.completion",
            "created": created,
            "model": body.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer.answer},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "isnad": _citations(answer),
        }

    return api, openai


def install(app: FastAPI, isnad: Isnad, lock: threading.Lock | None = None) -> None:
    """Mount the API on a running app (the Gradio server's FastAPI app): ``/api/v1`` with its OpenAPI page
    at ``/api/v1/docs``, and ``/v1``. Each is an application of its own, with its own JSON errors."""
    api, openai = build_routers(isnad, lock)
    for prefix, router, title in (
        ("/api/v1", api, "Isnad API"),
        ("/v1", openai, "Isnad (OpenAI-compatible)"),
    ):
        sub = FastAPI(title=title, version="1", docs_url="/docs" if router is api else None)
        sub.include_router(router)
        sub.add_exception_handler(ApiError, _api_error)
        sub.add_exception_handler(RequestValidationError, _invalid)
        app.mount(prefix, sub)


async def _invalid(_: Request, e: Exception) -> JSONResponse:
    """A body that is not JSON, or lacks a field, or has one of the wrong kind: what and where, as JSON."""
    assert isinstance(e, RequestValidationError)
    first = e.errors()[0] if e.errors() else {}
    where = ".".join(str(x) for x in first.get("loc", ()) if x != "body") or "the body"
    return JSONResponse(
        error_body("invalid_request", f"{where}: {first.get('msg', 'invalid')}"), status_code=422
    )


async def _api_error(_: Request, e: Exception) -> JSONResponse:
    assert isinstance(e, ApiError)
    return JSONResponse(error_body(e.code, e.message), status_code=e.status, headers=e.headers)


def as_api_errors(route):
    """A route whose app errors (a refused question, a bad file, a busy index) become ApiErrors."""

    def reraise(e: Exception):
        for kind, status, code in ERRORS:
            if isinstance(e, kind):
                raise ApiError(status, code, str(e)) from None
        raise e

    if inspect.iscoroutinefunction(route):

        @functools.wraps(route)
        async def run_async(*args, **kwargs):
            try:
                return await route(*args, **kwargs)
            except ApiError:
                raise
            except Exception as e:  # noqa: BLE001 (only the app's own errors are translated)
                reraise(e)

        return run_async

    @functools.wraps(route)
    def run(*args, **kwargs):
        try:
            return route(*args, **kwargs)
        except ApiError:
            raise
        except Exception as e:  # noqa: BLE001
            reraise(e)

    return run


def _models(isnad: Isnad) -> Iterator[str]:
    yield "isnad"
    if isnad.generator is not None:
        yield "isnad-generative"


def _text(content: str | list[dict] | None) -> str:
    """A message's text: a string, or the text parts of a list of content parts."""
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if p.get("type") == "text")
    return content or ""


def _citations(answer: Answer) -> dict:
    d = answer.to_dict()
    keys = ("sources", "short", "withheld_short", "abstained", "why", "notices", "engine", "kind")
    return {k: d[k] for k in keys}


def _chunks(answer: Answer, reply_id: str, created: int, model: str) -> Iterator[str]:
    """OpenAI's streaming shape: a role chunk, the answer's lines as content chunks, a last chunk with the
    finish reason and the citations, then ``[DONE]``. Only checked text is streamed."""

    def chunk(delta: dict, finish: str | None = None, **extra) -> str:
        body = {
            "id": reply_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    for piece in answer.answer.splitlines(keepends=True):
        yield chunk({"content": piece})
    yield chunk({}, "stop", isnad=_citations(answer))
    yield "data: [DONE]\n\n"


def _added(summary, name: str) -> dict:
    if summary.errors:
        raise IngestFileError("; ".join(f"{e.source}: {e.reason}" for e in summary.errors))
    r = summary.report
    return {
        "name": Path(name).name if "://" not in name else name,
        "added": r.added,
        "replaced": r.replaced,
        "unchanged": r.unchanged,
        "chunks": r.n_chunks,
    }
