"""Generators: any OpenAI-compatible endpoint, or the bundled Qwen2.5 GGUF served locally.

Both are reached through the same `openai` client (via LangChain's ChatOpenAI), so
the code that asks, streams, times out and falls back is one path. The API key is
held as a SecretStr and never printed.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator

from rag.config import Settings
from rag.errors import EndpointRefused, GeneratorUnavailable
from rag.models.embedder import QWEN_CODER_GGUF, provision
from rag.types import Message

LOCAL_MODEL_NAME = "qwen2.5-coder-1.5b-instruct"


OPAQUE_ERROR = "could not reach the endpoint"


class Generator:
    """A chat model behind an OpenAI-compatible URL, with bounded timeouts."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None,
        label: str,
        settings: Settings,
        wait_ready: Callable[[], None] | None = None,
        opaque_errors: bool = False,
    ):
        """``wait_ready`` blocks until a server that is still starting can answer (the embedded one).

        ``opaque_errors``: for endpoints typed by users, every failure reads "could not reach the
        endpoint", so the app cannot be used to map which internal addresses and ports answer.
        """
        from langchain_openai import ChatOpenAI

        self.wait_ready = wait_ready
        self.opaque_errors = opaque_errors
        self._secrets = tuple(k for k in (api_key,) if k)  # masked in every message this generator makes
        self.base_url = base_url
        self.model = model
        self.label = label
        self.settings = settings
        self._chat = ChatOpenAI(
            base_url=base_url,
            model=model,
            api_key=api_key or "not-needed",
            temperature=0,
            max_tokens=settings.llm_max_tokens,
            max_retries=0,
            streaming=True,
            timeout=settings.llm_timeout,
        )

    def __repr__(self) -> str:  # never show the key
        return f"Generator({self.label!r}, {self.base_url!r})"

    def _messages(self, messages: list[Message]):
        return [(m.role if m.role != "assistant" else "ai", m.content) for m in messages]

    def stream(
        self,
        messages: list[Message],
        max_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
    ) -> Iterator[str]:
        """Yield text pieces as they arrive; GeneratorUnavailable on any transport failure.

        Greedy by default; a ``temperature`` with a ``seed`` draws a reproducible sample (the
        translator's extra drafts)."""
        self.check_reachable()
        from langchain_core.output_parsers import StrOutputParser

        options = {"max_tokens": max_tokens, "temperature": temperature, "seed": seed}
        options = {k: v for k, v in options.items() if v is not None}
        chat = self._chat.bind(**options) if options else self._chat
        chain = chat | StrOutputParser()  # a LangChain Runnable: messages in, text pieces out
        try:
            for piece in chain.stream(self._messages(messages)):
                if piece:
                    yield piece
        except Exception as e:  # openai/httpx raise many types; all mean "no answer from here"
            raise self._failure(
                f"{self.label} failed: {type(e).__name__}: {mask_secrets(str(e), self._secrets)}"
            ) from None

    def _failure(self, detail: str) -> GeneratorUnavailable:
        return GeneratorUnavailable(f"{self.label}: {OPAQUE_ERROR}" if self.opaque_errors else detail)

    def complete(
        self,
        messages: list[Message],
        max_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
    ) -> str:
        return "".join(self.stream(messages, max_tokens, temperature, seed))

    def check_reachable(self) -> None:
        """Fail in seconds, not minutes, when nothing listens at the endpoint."""
        from urllib.parse import urlparse

        if self.wait_ready is not None:
            self.wait_ready()
        url = urlparse(self.base_url)
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            with socket.create_connection((url.hostname, port), timeout=self.settings.llm_connect_timeout):
                pass
        except OSError as e:
            raise self._failure(
                f"{self.label} is unreachable at {url.scheme}://{url.hostname}:{port} ({e})"
            ) from None


_TOKEN = re.compile(r"[A-Za-z0-9_\-.~+/=]{8,}")
_WINDOW = 8  # a shown run sharing this many characters with a key is treated as the key


def mask_secrets(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Error text with no key in it, at most 300 characters.

    Endpoints echo the key they were sent ("Incorrect API key provided: <key>"), in full or in part,
    so the configured key is masked wherever any 8 of its characters appear in a row, together with
    bearer tokens and anything shaped like an OpenAI key.
    """
    windows = {k[i : i + _WINDOW] for k in secrets for i in range(max(1, len(k) - _WINDOW + 1))}
    text = re.sub(r"(?i)(bearer\s+)\S+", r"\1***", text)
    text = re.sub(r"sk-[A-Za-z0-9_\-]{6,}", "sk-***", text)
    if windows:
        text = _TOKEN.sub(lambda m: "***" if any(w in m.group(0) for w in windows) else m.group(0), text)
        for k in secrets:
            text = text.replace(k, "***")
    return text[:300]


class LocalServer:
    """llama.cpp's OpenAI-compatible server, in-process via xllamacpp, on 127.0.0.1.

    Loading takes seconds; ``start()`` returns at once and ``wait_ready()`` blocks
    only the caller that needs the model (the app keeps answering extractively).
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self.port = free_port()
        self._server = None
        self._error: Exception | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LocalServer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="isnad-local-llm", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        try:
            import os

            import xllamacpp as xlc

            path = provision(QWEN_CODER_GGUF, self.settings.cache_dir)
            params = xlc.CommonParams()
            params.model.path = str(path)
            params.hostnames = ["127.0.0.1"]
            params.port = self.port
            params.n_ctx = self.settings.local_ctx
            params.n_parallel = 1
            threads = self.settings.local_threads or os.cpu_count() or 2
            params.cpuparams.n_threads = threads
            params.cpuparams_batch.n_threads = threads
            params.model_alias = LOCAL_MODEL_NAME
            params.verbosity = -1  # llama.cpp's per-token logs would drown the app's own output
            self._server = xlc.Server(params)
            _wait_for_port(self.port, 120)
        except Exception as e:  # reported to whoever waits
            self._error = e
        finally:
            self._ready.set()

    def wait_ready(self, timeout: float = 300) -> None:
        if not self._ready.wait(timeout):
            raise GeneratorUnavailable("the local generator is still loading")
        if self._error:
            raise GeneratorUnavailable(f"the local generator failed to start: {self._error}")

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and self._error is None


def free_port() -> int:
    """A port nothing listens on at 127.0.0.1 (for the embedded server, tests and benchmarks)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise GeneratorUnavailable(f"the local generator did not open port {port}")


_LOCAL: LocalServer | None = None
_LOCK = threading.Lock()


def local_server(settings: Settings) -> LocalServer:
    """One embedded server per process."""
    global _LOCAL
    with _LOCK:
        if _LOCAL is None:
            _LOCAL = LocalServer(settings).start()
        return _LOCAL


def user_generator(settings: Settings, endpoint: str, model: str | None, api_key: str | None) -> Generator:
    """A generator for an endpoint a user typed: refused unless the operator allows it, and then
    called only with the key the user typed, never the server's (which goes only to ISNAD_LLM_BASE_URL)."""
    from urllib.parse import urlparse

    if not settings.allow_user_endpoints:
        raise EndpointRefused(
            "this server only calls the endpoint its operator configured; typed endpoints are "
            "turned off (the operator can allow them with ISNAD_ALLOW_USER_ENDPOINTS=1)"
        )
    url = urlparse(endpoint)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise EndpointRefused(
            "the endpoint must be an http(s) URL ending in /v1, e.g. https://api.example.com/v1"
        )
    allowed = [h.strip().lower() for h in settings.allowed_hosts.split(",") if h.strip()]
    if allowed and url.hostname.lower() not in allowed:
        raise EndpointRefused(f"this server calls typed endpoints only on {', '.join(allowed)}")
    model = model or "gpt-4o-mini"
    return Generator(
        endpoint,
        model,
        api_key or None,
        f"{model} at your endpoint (remote, machine-generated)",
        settings,
        opaque_errors=True,
    )


def make_generator(settings: Settings) -> Generator | None:
    """The configured generator, or None when answers stay extractive."""
    kind = settings.generator
    if kind == "auto":
        kind = "remote" if settings.llm_base_url else "none"
    if kind == "none":
        return None
    if kind == "remote":
        if not settings.llm_base_url:
            raise ValueError("generator 'remote' needs ISNAD_LLM_BASE_URL (an OpenAI-compatible /v1 URL)")
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        model = settings.llm_model or "gpt-4o-mini"
        return Generator(settings.llm_base_url, model, key, f"{model} (remote, machine-generated)", settings)
    if kind == "local":
        server = local_server(settings)
        return Generator(
            server.base_url,
            LOCAL_MODEL_NAME,
            None,
            "Qwen2.5-Coder-1.5B local (machine-generated)",
            settings,
            wait_ready=server.wait_ready,
        )
    raise ValueError(f"unknown generator '{kind}'; use none, local, remote or auto")
