"""The HTTP API and the OpenAI-compatible endpoint, on a real app server on 127.0.0.1: keys, limits, the
app's own messages as JSON errors, uploads and deletes, and the official `openai` client, streaming included."""

from __future__ import annotations

import shutil

import httpx
import pytest
from pydantic import SecretStr
from starlette.requests import Request

from rag.interfaces.api import ApiError, Keys
from tests.documents import scanned_pdf

TEAM, BOT = "team-key-7f3a", "bot-key-91c2"
QUESTION = "متى اتفق العراق والولايات المتحدة على خطة لإعادة انتشار قوات التحالف؟"
SERVER_SECRET = "sk-operator-secret-5d1e"


@pytest.fixture(scope="module")
def keyed(isnad, settings, tmp_path_factory):
    """The app with two API keys (the bot's allowed 20 requests a minute) and an operator generator key."""
    from rag.interfaces import app as isnad_app
    from rag.models.llm import free_port

    root = tmp_path_factory.mktemp("api")
    shutil.copytree(settings.index_dir, root / "index")
    api_settings = settings.model_copy(
        update={
            "index_dir": root / "index",
            "uploads_dir": root / "uploads",
            "port": free_port(),
            "api_keys": SecretStr(f"team:{TEAM}, bot:{BOT}"),
            "api_rate_per_minute": 20,
            "llm_api_key": SecretStr(SERVER_SECRET),
            "generator": "none",
        }
    )
    demo = isnad_app.launch(api_settings, wait=False)
    yield f"http://127.0.0.1:{api_settings.port}"
    demo.close()


def _as(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def test_keys_are_required_and_errors_are_json_with_the_apps_message(keyed):
    assert httpx.get(f"{keyed}/api/v1/health").json()["status"] == "ok"  # the one open call
    for headers in ({}, _as("wrong")):
        r = httpx.post(f"{keyed}/api/v1/ask", json={"question": QUESTION}, headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
        assert r.headers["www-authenticate"] == "Bearer"
    r = httpx.post(f"{keyed}/api/v1/ask", json={"question": "   "}, headers=_as(TEAM))
    assert r.status_code == 400 and r.json() == {
        "error": {"code": "invalid_question", "message": "The question is empty. / السؤال فارغ."}
    }
    r = httpx.post(f"{keyed}/api/v1/ask", content=b"{" + b" " * 70_000 + b"}", headers=_as(TEAM))
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    assert SERVER_SECRET not in httpx.get(f"{keyed}/api/v1/info", headers=_as(TEAM)).text
    for body, where in ((b"{not json", "1"), (b'{"k": 3}', "question")):
        r = httpx.post(
            f"{keyed}/api/v1/ask", content=body, headers={**_as(TEAM), "content-type": "application/json"}
        )
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
        assert r.json()["error"]["message"].startswith(where)


def test_ask_search_brief_and_documents(keyed):
    answer = httpx.post(
        f"{keyed}/api/v1/ask", json={"question": QUESTION}, headers=_as(TEAM), timeout=120
    ).json()
    assert not answer["abstained"] and answer["sources"] and "2021" in answer["answer"]
    assert {"answer", "short", "withheld_short", "sources", "notices", "why", "kind"} <= set(answer)
    hits = httpx.post(f"{keyed}/api/v1/search", json={"query": QUESTION, "k": 3}, headers=_as(TEAM)).json()[
        "hits"
    ]
    assert len(hits) == 3 and {"doc_id", "source", "text", "start", "end", "score"} <= set(hits[0])
    b = httpx.post(
        f"{keyed}/api/v1/brief", json={"lang": "ar", "length": "short"}, headers=_as(TEAM), timeout=300
    ).json()
    assert b["sections"] and b["markdown"].startswith("#")
    docs = httpx.get(f"{keyed}/api/v1/documents", headers=_as(TEAM)).json()["documents"]
    assert len(docs) == 5


def test_upload_then_delete_and_a_bad_file_is_refused_with_its_reason(keyed, tmp_path):
    note = (
        "تقرير ميداني\n\nقال مسؤولون محليون إن حركة الشاحنات عادت إلى معبر القائم الحدودي "
        "بعد إغلاق دام ثلاثة أيام.\n"
    )
    r = httpx.post(
        f"{keyed}/api/v1/documents",
        files={"file": ("qaim.txt", note.encode(), "text/plain")},
        headers=_as(TEAM),
        timeout=120,
    )
    assert r.status_code == 200 and r.json()["added"] and r.json()["chunks"] == 1
    scan = scanned_pdf(tmp_path / "scan.pdf").read_bytes()
    r = httpx.post(f"{keyed}/api/v1/documents", files={"file": ("scan.pdf", scan)}, headers=_as(TEAM))
    assert r.status_code == 422 and "no text layer" in r.json()["error"]["message"]
    r = httpx.delete(f"{keyed}/api/v1/documents/qaim.txt", headers=_as(TEAM))
    assert r.status_code == 200 and r.json()["removed"][0].endswith("qaim.txt") and r.json()["trashed"]
    r = httpx.delete(f"{keyed}/api/v1/documents/qaim.txt", headers=_as(TEAM))
    assert r.status_code == 404 and r.json()["error"]["code"] == "document_not_found"
    assert "no indexed article matches 'qaim.txt'" in r.json()["error"]["message"]


def test_the_openai_client_works_unchanged_streaming_included(keyed):
    from openai import NotFoundError, OpenAI

    client = OpenAI(base_url=f"{keyed}/v1", api_key=TEAM, timeout=120)
    assert [m.id for m in client.models.list()] == ["isnad"]
    messages = [{"role": "user", "content": QUESTION}]
    done = client.chat.completions.create(model="isnad", messages=messages)
    text = done.choices[0].message.content
    assert "[1]" in text and done.model_extra["isnad"]["sources"][0]["quote"] in text
    pieces, last = [], None
    for chunk in client.chat.completions.create(model="isnad", messages=messages, stream=True):
        pieces.append(chunk.choices[0].delta.content or "")
        last = chunk
    assert "".join(pieces) == text and last.choices[0].finish_reason == "stop"
    assert last.model_extra["isnad"]["sources"] == done.model_extra["isnad"]["sources"]
    with pytest.raises(NotFoundError, match="no model 'gpt-4o'") as missing:
        client.chat.completions.create(model="gpt-4o", messages=messages)
    assert missing.value.code == "model_not_found"


def test_each_key_has_its_own_rate_limit_with_retry_after(keyed):
    statuses = [httpx.get(f"{keyed}/api/v1/documents", headers=_as(BOT)).status_code for _ in range(21)]
    assert statuses[:20] == [200] * 20 and statuses[20] == 429
    r = httpx.get(f"{keyed}/api/v1/documents", headers=_as(BOT))
    assert (
        r.status_code == 429
        and int(r.headers["retry-after"]) >= 1
        and r.json()["error"]["code"] == "rate_limited"
    )
    assert (
        httpx.get(f"{keyed}/api/v1/documents", headers=_as(TEAM)).status_code == 200
    )  # the team is not limited


def test_without_keys_only_this_machine_is_answered():
    keys = Keys("", per_minute=5)

    def request(host: str) -> Request:
        return Request(
            {"type": "http", "method": "GET", "path": "/api/v1/info", "headers": [], "client": (host, 5000)}
        )

    assert keys.caller(request("127.0.0.1")) == "local"
    with pytest.raises(ApiError) as refused:
        keys.caller(request("10.1.2.3"))
    assert refused.value.status == 403 and refused.value.code == "local_only"
    with pytest.raises(ValueError, match="name:key pairs"):
        Keys("just-a-key", per_minute=5)


def test_the_cli_uses_a_server_and_the_api_documents_itself(keyed, monkeypatch, capsys):
    import json

    from rag.interfaces.cli import main

    monkeypatch.setenv("ISNAD_API_KEY", TEAM)
    assert main(["--server", keyed, "ask", QUESTION, "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert not answer["abstained"] and answer["sources"]
    assert main(["--server", keyed, "search", "انسحاب القوات", "--k", "2"]) == 0
    assert capsys.readouterr().out.startswith("[1] ")
    monkeypatch.setenv("ISNAD_API_KEY", "wrong")
    assert main(["--server", keyed, "info"]) == 1
    assert "the server answered 401: send a configured API key" in capsys.readouterr().err
    spec = httpx.get(f"{keyed}/api/v1/openapi.json").json()
    assert {"/ask", "/search", "/brief", "/documents", "/health", "/info"} <= set(spec["paths"])
    assert httpx.get(f"{keyed}/api/v1/docs").status_code == 200
