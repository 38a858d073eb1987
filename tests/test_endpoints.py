"""The server's key goes only to the operator's endpoint; typed endpoints are refused or keyless (real app handler)."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest
from pydantic import SecretStr

from rag.interfaces.app import IsnadApp
from rag.interfaces.layout import EXTRACTIVE, GENERATIVE
from rag.interfaces.messages import message_text
from rag.models.llm import free_port
from rag.pipeline import Isnad

SERVER_KEY = "sk-server-0123456789abcdef"
QUESTION = "How many coalition troops remain in Iraq?"


class _Capture(http.server.BaseHTTPRequestHandler):
    seen: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server naming)
        length = int(self.headers.get("Content-Length") or 0)
        self.seen.append(
            {"auth": self.headers.get("Authorization"), "body": self.rfile.read(length).decode()}
        )
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def listener():
    _Capture.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", _Capture.seen
    server.shutdown()


def _app(isnad, **update) -> IsnadApp:
    settings = isnad.settings.model_copy(
        update={
            "llm_api_key": SecretStr(SERVER_KEY),
            "llm_timeout": 5.0,
            "llm_connect_timeout": 2.0,
            **update,
        }
    )
    return IsnadApp(Isnad(settings))


def _ask(app: IsnadApp, endpoint: str, key: str = "") -> str:
    *_, (history, _, _) = app.ask(QUESTION, [], GENERATIVE, endpoint, "m", key, 8, "hybrid")
    return message_text(history[-1])  # the words shown (the chat's Markdown is escaped)


def test_a_typed_endpoint_is_refused_by_default_and_nothing_is_sent(isnad, listener):
    url, seen = listener
    text = _ask(_app(isnad), url)
    assert "Your endpoint was not used" in text and "ISNAD_ALLOW_USER_ENDPOINTS" in text
    assert "3000" in text  # the extractive answer still stands
    assert seen == []


def test_an_allowed_endpoint_gets_the_users_key_never_the_servers(isnad, listener):
    url, seen = listener
    app = _app(isnad, allow_user_endpoints=True)
    _ask(app, url, key="sk-user-typed-42")
    _ask(app, url)  # no key typed: still not the server's
    assert seen and [r["auth"] for r in seen][0] == "Bearer sk-user-typed-42"
    assert all(SERVER_KEY not in r["auth"] for r in seen)


def test_errors_from_typed_endpoints_do_not_map_the_network(isnad, listener):
    url, _ = listener
    app = _app(isnad, allow_user_endpoints=True)
    answering = _ask(app, url)  # something listens there and answers 404
    closed = _ask(app, f"http://127.0.0.1:{free_port()}/v1")  # nothing listens
    for text in (answering, closed):
        assert "could not reach the endpoint" in text
        assert "404" not in text and "refused" not in text.lower() and "127" not in text
    assert answering.replace(url, "") == closed.replace(url, "")


def test_the_allow_list_limits_typed_hosts(isnad, listener):
    url, seen = listener
    text = _ask(_app(isnad, allow_user_endpoints=True, allowed_hosts="llm.example.org"), url)
    assert "only on llm.example.org" in text and seen == []


def test_the_operators_endpoint_gets_the_operators_key(isnad, listener):
    url, seen = listener  # the positive control: the key does go where the operator pointed it
    app = _app(isnad, llm_base_url=url, generator="remote", llm_model="m")
    _ask(app, "")
    assert seen and seen[0]["auth"] == f"Bearer {SERVER_KEY}"


ECHOED_KEY = "azure-0123456789abcdefSECRET"


class _EchoKey(http.server.BaseHTTPRequestHandler):
    """An endpoint that rejects the key and quotes it back, in full and in part, as some providers do."""

    def do_POST(self):  # noqa: N802 (http.server naming)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        key = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        body = (
            f'{{"error": {{"message": "Incorrect API key provided: {key}. Key {key[:10]}...{key[-8:]} '
            f'(header: Bearer {key}) is not valid.", "type": "invalid_request_error"}}}}'
        ).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_key_the_endpoint_echoes_is_never_shown(isnad, tmp_path):
    """The chat, the briefing's translation notes and its Markdown export never show the operator's key."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoKey)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        app = _app(
            isnad,
            llm_base_url=url,
            generator="remote",
            llm_model="m",
            llm_api_key=SecretStr(ECHOED_KEY),
            pretranslate=False,
        )
        chat = _ask(app, "")
        steps = list(
            app.brief("Topic", None, "US troop withdrawal from Iraq", "both", "short", EXTRACTIVE, "", "", "")
        )
    finally:
        server.shutdown()
    shown = (
        [chat] + [html for html, _ in steps] + [Path(md).read_text(encoding="utf-8") for _, md in steps if md]
    )
    assert len(shown) >= 3
    assert "401" in chat or "Incorrect API key" in chat  # the failure is reported...
    for text in shown:  # ...without the key, whole or in part
        assert ECHOED_KEY not in text and "0123456789" not in text and "abcdefSECRET" not in text
